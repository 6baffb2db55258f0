"""The image-text embedding adapter on tiny random models, loaded through the real hub (offline)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from imagelens.config import HubSettings, Settings
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.adapters.base import is_tiny
from imagelens.models.adapters.siglip import ImagePrep, SiglipAdapter, naflex_size
from imagelens.models.catalog import CATALOG, DEFAULT_FOR_ROLE
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role
from imagelens.testing.tiny import write_tiny

MODEL_ID = "siglip2-base-patch16-224"
SPEC = CATALOG[MODEL_ID]


def _images(seed: int = 0) -> list[npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 256, (61, 97, 3), dtype=np.uint8),  # landscape, odd sizes
        rng.integers(0, 256, (120, 50, 3), dtype=np.uint8),  # portrait
        np.full((64, 64, 3), 200, dtype=np.uint8),  # flat
    ]


@pytest.fixture()
def adapter(tiny_settings: Settings) -> SiglipAdapter:
    loaded = ModelHub(tiny_settings).get(Role.IMAGE_TEXT_EMBEDDING)
    assert isinstance(loaded, SiglipAdapter)
    return loaded


@pytest.fixture()
def private_model(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A copy of the tiny model folder without any cached text embeddings, for tests that count computations."""
    root = tmp_path / "models"
    shutil.copytree(
        tiny_model_dir / MODEL_ID, root / MODEL_ID, ignore=shutil.ignore_patterns("text_embeddings")
    )
    return root


def _hub(model_root: Path) -> ModelHub:
    return ModelHub(Settings(model_dir=model_root, hub=HubSettings(offline=True)))


def test_catalog_entry_is_the_role_default_and_pinned() -> None:
    assert DEFAULT_FOR_ROLE[Role.IMAGE_TEXT_EMBEDDING] == MODEL_ID
    source = SPEC.source
    assert len(source.revision) == 40 and int(source.revision, 16) >= 0  # type: ignore[union-attr]
    assert "model.safetensors" in source.allow_patterns  # type: ignore[union-attr]
    assert SPEC.license == "Apache-2.0"


def test_tiny_model_loads_through_the_hub(adapter: SiglipAdapter, tiny_model_dir: Path) -> None:
    assert adapter.family == "siglip"
    assert is_tiny(adapter.path)
    assert adapter.path == tiny_model_dir / MODEL_ID
    assert adapter.dim > 0
    assert adapter.logit_scale > 0 and np.isfinite(adapter.logit_bias)
    assert (
        adapter.text_prep.lowercase
        and adapter.text_prep.pad_to_max
        and not adapter.text_prep.use_attention_mask
    )


def test_image_embeddings_are_unit_rows_and_batch_equals_single(adapter: SiglipAdapter) -> None:
    images = _images()
    batch = adapter.embed_images(images)
    assert batch.shape == (3, adapter.dim) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    singles = np.concatenate([adapter.embed_images([img]) for img in images])
    np.testing.assert_allclose(batch, singles, atol=1e-5)
    assert not np.allclose(batch[0], batch[1], atol=1e-3)  # different images, different embeddings


def test_embeddings_are_deterministic_across_loads(adapter: SiglipAdapter, tiny_settings: Settings) -> None:
    images = _images(1)
    first = adapter.embed_images(images)
    np.testing.assert_array_equal(first, adapter.embed_images(images))
    reloaded = ModelHub(tiny_settings).get(MODEL_ID)
    assert reloaded is not adapter
    np.testing.assert_array_equal(first, reloaded.embed_images(images))
    np.testing.assert_array_equal(adapter.embed_texts(["a dog"]), reloaded.embed_texts(["a dog"]))


def test_text_embeddings_and_tokenisation_follow_siglip_training(adapter: SiglipAdapter) -> None:
    texts = ["a photo of a Dog.", "a photo of a dog.", "an aerial view of a harbour at night"]
    emb = adapter.embed_texts(texts)
    assert emb.shape == (3, adapter.dim)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(emb[0], emb[1])  # lower-cased before tokenising
    ids = adapter.tokenize(["a dog"])
    assert set(ids) == {"input_ids"}  # SigLIP runs without an attention mask
    row = ids["input_ids"][0]
    full_length = adapter._model.config.text_config.max_position_embeddings
    assert adapter.text_prep.max_length == full_length
    assert row.shape == (full_length,)  # padded to the text model's full length
    eos, pad = adapter._tokenizer.eos_token_id, adapter._tokenizer.pad_token_id
    n = int(np.count_nonzero(row != pad))
    assert row[n - 1] == eos and np.all(row[n:] == pad)
    with pytest.raises(InvalidArgumentError, match="single string"):
        adapter.embed_texts("a dog")  # type: ignore[arg-type]


def test_logits_equal_the_models_own_forward(adapter: SiglipAdapter) -> None:
    import torch

    images, texts = _images(2), ["a photo of a cat.", "a photo of a harbour."]
    pixel = torch.from_numpy(np.stack([adapter.image_prep(img)["pixel_values"] for img in images]))
    ids = torch.from_numpy(adapter.tokenize(texts)["input_ids"])
    with torch.inference_mode():
        expected = adapter._model(input_ids=ids, pixel_values=pixel).logits_per_image.numpy()
    ours = adapter.logits(adapter.embed_images(images), adapter.embed_texts(texts))
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_empty_inputs_and_bad_images(adapter: SiglipAdapter) -> None:
    assert adapter.embed_images([]).shape == (0, adapter.dim)
    assert adapter.embed_texts([]).shape == (0, adapter.dim)
    with pytest.raises(InvalidArgumentError, match=r"uint8 RGB array, got shape \(8, 8\)"):
        adapter.embed_images([np.zeros((8, 8), np.uint8)])
    with pytest.raises(InvalidArgumentError, match="dtype float32"):
        adapter.embed_images([np.zeros((8, 8, 3), np.float32)])


def test_prompt_embeddings_are_cached_on_disk_and_reused_after_a_restart(private_model: Path) -> None:
    calls: list[int] = []

    def counting(model: SiglipAdapter):  # type: ignore[no-untyped-def]
        def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
            calls.append(len(texts))
            return model.embed_texts(texts)

        return embed

    labels, templates = ["dog", "cat", "harbour"], ("a photo of a {}.", "a picture of the {}.")
    first = _hub(private_model).get(MODEL_ID)
    emb = first.prompt_embeddings(labels, templates, embed_texts=counting(first))
    assert calls == [3, 3]  # one batch per template
    assert emb.shape == (3, first.dim)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # the average of the two templates' unit vectors, re-normalised
    manual = first.embed_texts([t.format(x) for x in labels for t in templates]).reshape(3, 2, -1).sum(axis=1)
    np.testing.assert_allclose(emb, manual / np.linalg.norm(manual, axis=1, keepdims=True), atol=1e-5)
    files = list((private_model / MODEL_ID / "text_embeddings").glob("*.npy"))
    assert len(files) == 1
    # same adapter: memory hit
    assert first.prompt_embeddings(labels, templates, embed_texts=counting(first)) is emb
    # a fresh load (a restart): disk hit, nothing recomputed, same values
    second = _hub(private_model).get(MODEL_ID)
    assert second is not first
    again = second.prompt_embeddings(labels, templates, embed_texts=counting(second))
    assert calls == [3, 3]
    np.testing.assert_array_equal(again, emb)
    # other templates are another key
    second.prompt_embeddings(labels, templates[:1], embed_texts=counting(second))
    assert calls == [3, 3, 3]
    assert len(list((private_model / MODEL_ID / "text_embeddings").glob("*.npy"))) == 2


def test_a_corrupt_cache_file_is_recomputed(private_model: Path) -> None:
    model = _hub(private_model).get(MODEL_ID)
    emb = model.prompt_embeddings(["dog", "cat"])
    (file,) = (private_model / MODEL_ID / "text_embeddings").glob("*.npy")
    np.save(file, np.zeros((5, 2), np.float32))  # wrong shape
    fresh = _hub(private_model).get(MODEL_ID)
    calls: list[int] = []

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        calls.append(len(texts))
        return fresh.embed_texts(texts)

    np.testing.assert_allclose(fresh.prompt_embeddings(["dog", "cat"], embed_texts=embed), emb, atol=1e-6)
    assert calls == [2]
    assert np.load(file).shape == (2, model.dim)


def test_prompt_embeddings_validate_their_input(adapter: SiglipAdapter) -> None:
    with pytest.raises(InvalidArgumentError, match="at least one label"):
        adapter.prompt_embeddings([])
    with pytest.raises(InvalidArgumentError, match="placeholder"):
        adapter.prompt_embeddings(["dog"], ["a photo"])


def test_a_folder_without_preprocessor_config_is_unavailable(private_model: Path) -> None:
    (private_model / MODEL_ID / "preprocessor_config.json").unlink()
    with pytest.raises(ModelUnavailableError, match="preprocessor_config.json"):
        _hub(private_model).get(MODEL_ID)


@pytest.mark.parametrize("family", ["siglip2", "clip"])
def test_other_families_write_load_and_embed(family: str, tmp_path: Path) -> None:
    spec = replace(SPEC, options={**SPEC.options, "family": family})
    write_tiny(spec, tmp_path / MODEL_ID, seed=3)
    hub = ModelHub(Settings(model_dir=tmp_path, hub=HubSettings(offline=True)), catalog={MODEL_ID: spec})
    model = hub.embedder(MODEL_ID)
    assert isinstance(model, SiglipAdapter) and model.family == family
    images = _images(4)
    batch = model.embed_images(images)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batch, np.concatenate([model.embed_images([i]) for i in images]), atol=1e-5)
    texts = model.embed_texts(["a dog", "a photo of a harbour at night"])
    assert texts.shape == (2, model.dim)
    assert model.text_prep.use_attention_mask == (family == "clip")
    assert model.logit_bias == 0.0 if family == "clip" else np.isfinite(model.logit_bias)


# --- preprocessing against transformers' own (PIL) image processors -------------------------------------------------

SIGLIP2_224 = {  # google/siglip2-base-patch16-224's preprocessor_config.json (resample 2, squash to 224)
    "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5], "resample": 2, "rescale_factor": 1 / 255, "size": {"height": 224, "width": 224},
}  # fmt: skip
CLIP_224 = {  # openai/clip-vit-base-patch32's
    "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_normalize": True, "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3, "size": {"shortest_edge": 224},
}  # fmt: skip


@pytest.mark.parametrize("shape", [(480, 640, 3), (641, 333, 3), (50, 50, 3)])
def test_siglip_and_clip_preprocessing_match_transformers(shape: tuple[int, int, int]) -> None:
    from transformers.models.clip import CLIPImageProcessorPil
    from transformers.models.siglip import SiglipImageProcessorPil

    img = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    ours = ImagePrep.from_config(SIGLIP2_224, "siglip")(img)["pixel_values"]
    ref = SiglipImageProcessorPil(**SIGLIP2_224)(images=[img], return_tensors="np")["pixel_values"][0]
    assert ours.shape == (3, 224, 224)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    ours = ImagePrep.from_config(CLIP_224, "clip")(img)["pixel_values"]
    ref = CLIPImageProcessorPil(**CLIP_224)(images=[img], return_tensors="np")["pixel_values"][0]
    np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "max_patches"), [((480, 640, 3), 256), ((97, 31, 3), 64), ((300, 300, 3), 16)]
)
def test_naflex_preprocessing_matches_transformers(shape: tuple[int, int, int], max_patches: int) -> None:
    from transformers.models.siglip2 import Siglip2ImageProcessorPil

    img = np.random.default_rng(max_patches).integers(0, 256, shape, dtype=np.uint8)
    ours = ImagePrep.from_config(
        {"patch_size": 16, "max_num_patches": max_patches, "resample": 2}, "siglip2"
    )(img)
    ref = Siglip2ImageProcessorPil()(
        images=[img], return_tensors="np", patch_size=16, max_num_patches=max_patches
    )
    for key in ("pixel_values", "pixel_attention_mask", "spatial_shapes"):
        np.testing.assert_allclose(ours[key], np.asarray(ref[key])[0], atol=1e-5, err_msg=key)
    h, w = naflex_size(shape[0], shape[1], 16, max_patches)
    assert (h // 16) * (w // 16) <= max_patches
    assert int(ours["pixel_attention_mask"].sum()) == (h // 16) * (w // 16)


def test_tiny_preprocessor_config_round_trips(tiny_model_dir: Path) -> None:
    cfg = json.loads((tiny_model_dir / MODEL_ID / "preprocessor_config.json").read_text())
    prep = ImagePrep.from_config(cfg, "siglip")
    assert prep.size == (cfg["size"]["height"], cfg["size"]["width"])
    assert prep.resample == 2


# --- the image tower in bf16 (IMAGELENS_HUB__BF16) -------------------------------------------------------------------


@pytest.mark.parametrize("family", ["siglip", "clip"])
def test_an_image_tower_in_bf16_embeds_like_fp32_and_leaves_the_text_tower_alone(
    family: str, tmp_path: Path
) -> None:
    import torch

    spec = replace(SPEC, options={**SPEC.options, "family": family})
    write_tiny(spec, tmp_path / MODEL_ID, seed=6)
    plain = SiglipAdapter.load(tmp_path / MODEL_ID, spec)
    half = SiglipAdapter.load(tmp_path / MODEL_ID, replace(spec, options={**spec.options, "bf16": "always"}))
    assert plain.image_dtype == torch.float32 and half.image_dtype == torch.bfloat16
    assert next(half._model.vision_model.parameters()).dtype == torch.bfloat16
    assert next(half._model.text_model.parameters()).dtype == torch.float32
    images = _images(5)
    exact, approx = plain.embed_images(images), half.embed_images(images)
    assert approx.dtype == np.float32
    assert not np.array_equal(exact, approx)  # the control: it did compute in bf16
    assert float((exact * approx).sum(axis=1).min()) > 0.999
    np.testing.assert_allclose(approx, np.concatenate([half.embed_images([i]) for i in images]), atol=1e-6)
    texts = ["a dog", "a photo of a harbour at night"]
    np.testing.assert_array_equal(half.embed_texts(texts), plain.embed_texts(texts))


def test_bf16_auto_follows_the_cpu_and_int8_wins(
    monkeypatch: pytest.MonkeyPatch, private_model: Path
) -> None:
    import torch

    from imagelens.models.adapters import quantize

    folder = private_model / MODEL_ID
    auto = replace(SPEC, options={**SPEC.options, "bf16": "auto"})
    monkeypatch.setattr(quantize, "native_bf16", lambda: True)
    assert SiglipAdapter.load(folder, auto).image_dtype == torch.bfloat16
    both = replace(auto, options={**auto.options, "quantize": "int8-dynamic"})
    assert SiglipAdapter.load(folder, both).image_dtype == torch.float32  # int8 Linear takes float32 only
    monkeypatch.setattr(quantize, "native_bf16", lambda: False)  # emulated bf16 would be slower than fp32
    assert SiglipAdapter.load(folder, auto).image_dtype == torch.float32
    with pytest.raises(InvalidArgumentError, match="bf16 must be"):
        SiglipAdapter.load(folder, replace(SPEC, options={**SPEC.options, "bf16": "fast"}))


def test_the_hub_puts_the_default_embedder_in_bf16_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch, private_model: Path
) -> None:
    import torch

    from imagelens.config import DEFAULT_BF16
    from imagelens.models.adapters import quantize

    monkeypatch.delenv("IMAGELENS_HUB__BF16")
    monkeypatch.setattr(quantize, "native_bf16", lambda: True)
    assert MODEL_ID in DEFAULT_BF16 and HubSettings().bf16 == list(DEFAULT_BF16)
    assert _hub(private_model).embedder(MODEL_ID).image_dtype == torch.bfloat16
    monkeypatch.setenv("IMAGELENS_HUB__BF16", "none")
    assert Settings().hub.bf16 == []
    hub = ModelHub(Settings(model_dir=private_model, hub=HubSettings(offline=True, bf16=[])))
    assert hub.embedder(MODEL_ID).image_dtype == torch.float32
    monkeypatch.setenv("IMAGELENS_HUB__BF16", "default")
    assert Settings().hub.bf16 == list(DEFAULT_BF16)
