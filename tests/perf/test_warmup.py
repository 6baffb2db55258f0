"""The vocabulary warm-up: what ``imagelens models pull|warm`` and ``imagelens serve`` run before any request."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from imagelens.config import HubSettings, Settings
from imagelens.features import warmup as wu
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub

SIGLIP = "siglip2-base-patch16-224"


@pytest.fixture()
def own_siglip(tmp_path: Path, tiny_model_dir: Path) -> Settings:
    """The tiny SigLIP copied into a folder of this test's own (its prompt cache must not leak into other tests)."""
    shutil.copytree(
        tiny_model_dir / SIGLIP, tmp_path / SIGLIP, ignore=shutil.ignore_patterns("text_embeddings")
    )
    return Settings(model_dir=tmp_path, hub=HubSettings(offline=True))


def small_vocabulary_hub(settings: Settings, tmp_path: Path) -> ModelHub:
    """A hub whose SigLIP spec names a 40-tag vocabulary file (the RAM list costs minutes on a loaded CI box)."""
    vocab = tmp_path / "small_vocab.txt"
    vocab.write_text("\n".join(f"thing {i}" for i in range(40)) + "\n", encoding="utf-8")
    spec = CATALOG[SIGLIP]
    catalog = {**CATALOG, SIGLIP: replace(spec, options={**spec.options, "vocabulary": str(vocab)})}
    return ModelHub(settings, catalog=catalog)


@pytest.fixture()
def extra_vocab() -> object:
    yield
    wu._EXTRA.clear()


def test_tags_vocabulary_is_in_the_warmup_list() -> None:
    sets = wu.prompt_sets(ModelHub(Settings(hub=HubSettings(offline=True))))
    tags = next(s for s in sets if s.name == "tags")
    assert tags.model_id == SIGLIP and len(tags.labels) > 4000 and tags.templates == ("a photo of a {}.",)


def test_warm_persists_the_tag_embeddings_and_a_restart_reads_them_back(
    own_siglip: Settings, tmp_path: Path
) -> None:
    hub = small_vocabulary_hub(own_siglip, tmp_path)
    done = wu.warm(hub, vocabularies=["tags"])
    assert done.state == "ready", done.progress()
    step = done.steps[-1]
    assert (step.kind, step.name, step.state) == ("vocabulary", "tags", "done")
    cache = Path(own_siglip.model_dir or "") / SIGLIP / "text_embeddings"
    assert len(list(cache.glob("*.npy"))) == 1

    fresh = small_vocabulary_hub(own_siglip, tmp_path)  # a restart: the cache on disk, nothing in memory
    model = fresh.embedder()
    calls: list[int] = []
    sets = wu.prompt_sets(fresh, ["tags"])
    original = model.embed_texts

    def counting(texts: object) -> object:
        calls.append(1)
        return original(texts)  # type: ignore[arg-type]

    t0 = time.perf_counter()
    array = model.prompt_embeddings(sets[0].labels, sets[0].templates, embed_texts=counting)  # type: ignore[call-arg]
    assert time.perf_counter() - t0 < 1.0
    assert calls == [] and array.shape[0] == len(sets[0].labels) == 40

    # the tags feature then finds the same array in the adapter's memory: it never embeds a prompt
    from imagelens.features.tags import TaggerConfig, build_tag_index

    index = build_tag_index(model, TaggerConfig.from_options(fresh.spec(SIGLIP).options))
    assert index.embeddings is array


def test_one_line_registers_a_prompt_set(own_siglip: Settings, extra_vocab: object) -> None:
    wu.register(
        "moderation", lambda hub: [wu.WarmupSet("moderation", ("weapon", "gore"), ("a photo of {}.",))]
    )
    done = wu.warm(ModelHub(own_siglip), vocabularies=["moderation"])
    assert [(s.name, s.state, s.detail) for s in done.steps] == [
        ("moderation", "done", "2 labels x 1 templates")
    ]
    with pytest.raises(KeyError, match="no vocabulary named"):
        wu.prompt_sets(ModelHub(own_siglip), ["nope"])


def test_a_missing_model_is_skipped_and_a_broken_provider_fails(tmp_path: Path, extra_vocab: object) -> None:
    hub = ModelHub(Settings(model_dir=tmp_path, hub=HubSettings(offline=True)))
    skipped = wu.warm(hub, vocabularies=["tags"])
    assert skipped.state == "ready" and skipped.steps[0].state == "skipped"

    def broken(hub: ModelHub) -> list[wu.WarmupSet]:
        raise RuntimeError("bad vocabulary file")

    wu.register("broken", broken)
    failed = wu.warm(hub, vocabularies=["broken"])
    assert failed.state == "failed" and "bad vocabulary file" in failed.progress()["steps"][0]["detail"]


def test_background_warmup_reports_progress(own_siglip: Settings, extra_vocab: object) -> None:
    gate = threading.Event()

    def slow(hub: ModelHub) -> list[wu.WarmupSet]:
        gate.wait(10)
        return [wu.WarmupSet("slow", ("cat",), ("a {}",))]

    wu.register("slow", slow)
    warmup = wu.Warmup(ModelHub(own_siglip), vocabularies=["slow"])
    warmup.start()
    assert warmup.warming and warmup.progress()["state"] == "warming"
    gate.set()
    warmup.join(10)
    assert warmup.progress()["state"] == "ready" and warmup.progress()["done"] == 1


def test_cli_models_warm_prints_each_step(
    own_siglip: Settings, extra_vocab: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from imagelens.cli import app

    wu.register("brands", lambda hub: [wu.WarmupSet("brands", ("acme", "globex"), ("a {} logo",))])
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(own_siglip.model_dir))
    result = CliRunner().invoke(app, ["models", "warm", "--vocabulary", "brands"])
    assert result.exit_code == 0, result.output
    assert f"warm vocabulary brands [{SIGLIP}]: done" in result.output
    assert "2 labels x 1 templates" in result.output
    failing = CliRunner().invoke(app, ["models", "warm", "--vocabulary", "nope"])
    assert failing.exit_code != 0


def test_warm_covers_every_zero_shot_feature_so_no_request_embeds_a_prompt(
    own_siglip: Settings, tmp_path: Path
) -> None:
    """categories, adult, landmarks and brands: after a warm-up and a restart, analyzing embeds no text at all."""
    import numpy as np

    from imagelens.analyzer import Analyzer
    from imagelens.config import BrandSettings, LandmarkSettings

    (tmp_path / "landmarks.txt").write_text("Eiffel Tower\nBig Ben\n", encoding="utf-8")
    (tmp_path / "brands.txt").write_text("Acme\nGlobex\n", encoding="utf-8")
    settings = own_siglip.model_copy(
        update={
            "landmarks": LandmarkSettings(file=tmp_path / "landmarks.txt"),
            "brands": BrandSettings(file=tmp_path / "brands.txt"),
            "store_dir": tmp_path / "store",
        }
    )
    names = {
        s.name
        for s in wu.prompt_sets(ModelHub(settings), ["categories", "moderation", "landmarks", "brands"])
    }
    assert {"azure-v32-categories", "moderation", "landmarks-added", "brands"} <= names
    assert (
        wu.warm(ModelHub(settings), vocabularies=["categories", "moderation", "landmarks", "brands"]).state
        == "ready"
    )

    restarted = ModelHub(settings)  # the cache on disk, nothing in memory
    model = restarted.embedder()
    calls: list[int] = []
    original = model.embed_texts

    def counting(texts: object) -> object:
        calls.append(1)
        return original(texts)  # type: ignore[arg-type]

    model.embed_texts = counting  # type: ignore[method-assign]
    from imagelens.features.brand_list import load_brand_list
    from imagelens.features.brand_visual import brand_prompt_set
    from imagelens.features.zero_shot import label_embeddings

    analyzer = Analyzer(settings, hub=restarted)
    try:
        analyzer.analyze(np.full((64, 64, 3), 128, np.uint8), ["categories", "adult", "landmarks"])
        label_embeddings(model, brand_prompt_set(load_brand_list(settings).names))  # what names a logo box
    finally:
        analyzer.close()
    assert calls == []
