"""Opt-in int8 dynamic quantisation of Linear layers (``IMAGELENS_HUB__QUANTIZE``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.config import DEFAULT_QUANTIZED, HubSettings, Settings
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.quantize import (
    DEFAULT_MODE,
    INT8_DYNAMIC,
    INT8_DYNAMIC_PER_CHANNEL,
    quantize_mode,
    quantized_spec,
)
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub


def _linears(module: object) -> tuple[int, int]:
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    mods = list(module.modules())  # type: ignore[attr-defined]
    dyn = sum(isinstance(m, DynamicLinear) for m in mods)
    plain = sum(type(m) is torch.nn.Linear for m in mods)
    return dyn, plain


def test_mode_is_checked() -> None:
    from dataclasses import replace

    spec = CATALOG["rtdetr-v2-r18"]
    assert quantize_mode(spec) is None
    assert quantize_mode(replace(spec, options={"quantize": INT8_DYNAMIC})) == INT8_DYNAMIC
    with pytest.raises(InvalidArgumentError, match="quantize must be"):
        quantize_mode(replace(spec, options={"quantize": "int4"}))


def test_listed_models_load_quantised_and_still_answer(tiny_model_dir: Path) -> None:
    ids = ["florence-2-base", "siglip2-base-patch16-224"]
    plain = ModelHub(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True, quantize="none")))
    quant = ModelHub(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True, quantize=ids)))
    image = (np.arange(64 * 80 * 3) % 251).astype(np.uint8).reshape(64, 80, 3)

    embedder = quant.embedder()
    vision_dyn, _ = _linears(embedder._model.vision_model)  # type: ignore[attr-defined]
    text_dyn, _ = _linears(embedder._model.text_model)  # type: ignore[attr-defined]
    assert vision_dyn > 0 and text_dyn == 0  # text stays fp32: cached prompt embeddings stay exact
    a = quant.embedder().embed_images([image])[0]
    b = plain.embedder().embed_images([image])[0]
    assert float(a @ b) > 0.9  # same direction, small int8 error

    captioner = quant.captioner()
    caption = captioner.caption(captioner.encode(image))
    assert isinstance(caption.text, str)


@pytest.mark.parametrize(
    ("env", "ids"),
    [
        (None, list(DEFAULT_QUANTIZED)),
        ("none", []),
        ("NONE", []),
        ("[]", []),
        ("", []),
        ("default", list(DEFAULT_QUANTIZED)),
        ('["florence-2-base"]', ["florence-2-base"]),
        ("florence-2-base, siglip2-base-patch16-224", ["florence-2-base", "siglip2-base-patch16-224"]),
    ],
)
def test_quantize_setting_defaults_to_int8_and_none_opts_out(
    monkeypatch: pytest.MonkeyPatch, env: str | None, ids: list[str]
) -> None:
    if env is None:
        monkeypatch.delenv("IMAGELENS_HUB__QUANTIZE", raising=False)
    else:
        monkeypatch.setenv("IMAGELENS_HUB__QUANTIZE", env)
    assert Settings().hub.quantize == ids


def test_default_list_is_the_florence_captioners() -> None:
    assert set(DEFAULT_QUANTIZED) <= set(CATALOG)
    assert "rtdetr-v2-r18" not in DEFAULT_QUANTIZED  # its int8 scores collapsed (benchmarks/perf_targets.md)
    # int8 activations are scaled per batch: an embedding must not depend on the images batched with it
    assert "siglip2-base-patch16-224" not in DEFAULT_QUANTIZED
    assert HubSettings().quantize == list(DEFAULT_QUANTIZED)


def test_quantized_spec_follows_the_setting() -> None:
    from dataclasses import replace

    spec = CATALOG["florence-2-base"]
    assert quantize_mode(quantized_spec(spec, ["florence-2-base"])) == DEFAULT_MODE
    assert quantized_spec(spec, []) is spec
    assert quantized_spec(spec, ["siglip2-base-patch16-224"]) is spec
    own = replace(spec, options={**spec.options, "quantize": INT8_DYNAMIC_PER_CHANNEL})
    assert quantize_mode(quantized_spec(own, ["florence-2-base"])) == INT8_DYNAMIC_PER_CHANNEL


def test_per_channel_mode_quantises_the_vision_tower(tiny_model_dir: Path) -> None:
    from dataclasses import replace

    from imagelens.models.adapters.siglip import SiglipAdapter

    spec = CATALOG["siglip2-base-patch16-224"]
    per_channel = replace(spec, options={**spec.options, "quantize": INT8_DYNAMIC_PER_CHANNEL})
    model = SiglipAdapter.load(tiny_model_dir / spec.id, per_channel)
    dyn, plain = _linears(model._model.vision_model.encoder)
    assert dyn > 0 and plain == 0
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    layer = next(m for m in model._model.vision_model.modules() if isinstance(m, DynamicLinear))
    assert "per_channel" in str(layer.weight().qscheme())


@pytest.mark.parametrize("family", ["siglip", "siglip2"])
def test_opt_in_siglip_quantises_the_encoder_and_still_embeds(family: str, tmp_path: Path) -> None:
    # SigLIP 2 NaFlex embeds patches with a Linear that transformers reads as ``.weight``: it must stay a Linear
    from dataclasses import replace

    from imagelens.testing.tiny import write_tiny

    base = CATALOG["siglip2-base-patch16-224"]
    spec = replace(base, options={**base.options, "family": family})
    write_tiny(spec, tmp_path / spec.id, seed=3)
    settings = Settings(model_dir=tmp_path, hub=HubSettings(offline=True, quantize=[spec.id]))
    model = ModelHub(settings, catalog={spec.id: spec}).embedder(spec.id)
    dyn, _ = _linears(model._model.vision_model.encoder)  # type: ignore[attr-defined]
    assert dyn > 0
    image = (np.arange(64 * 80 * 3) % 251).astype(np.uint8).reshape(64, 80, 3)
    vector = model.embed_images([image])[0]
    assert vector.shape == (model.dim,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads the process's mappings (Linux)")
def test_a_quantised_model_keeps_no_view_of_its_checkpoint_file(tmp_path: Path) -> None:
    # transformers memory-maps the checkpoint; quantising reads every fp32 Linear weight, and while any tensor still
    # views the file those pages stay in the process's RSS (about 630 MB for Florence-2-base): own_memory copies the
    # fp32 tensors that stay, so the file is unmapped
    import gc
    from dataclasses import replace

    import torch

    from imagelens.models.adapters.florence2 import Florence2Adapter
    from imagelens.testing.tiny import write_tiny

    spec = CATALOG["florence-2-base"]
    folder = tmp_path / spec.id
    write_tiny(spec, folder, seed=5)
    image = (np.arange(64 * 80 * 3) % 251).astype(np.uint8).reshape(64, 80, 3)

    plain = Florence2Adapter.load(folder, spec)
    assert (
        str(folder) in Path("/proc/self/maps").read_text()
    )  # the control: fp32 weights are views of the file
    expected = plain.generate(plain.encode(image), "<CAPTION>", 6).token_ids
    del plain
    gc.collect()

    # the load itself must free the fp32 layers it replaced (they sit in reference cycles), not a later collection
    gc.disable()
    try:
        quantised = Florence2Adapter.load(
            folder, replace(spec, options={**spec.options, "quantize": INT8_DYNAMIC})
        )
        assert str(folder) not in Path("/proc/self/maps").read_text()
    finally:
        gc.enable()
    with torch.inference_mode():
        tokens = quantised.generate(quantised.encode(image), "<CAPTION>", 6).token_ids
    assert len(tokens) == len(expected)
