"""Tags and captions in other languages through the tiny random OPUS-MT translators (loaded through the real hub)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imagelens.analyzer import Analyzer
from imagelens.config import HubSettings, Settings
from imagelens.errors import NotSupportedLanguageError
from imagelens.features import translation
from imagelens.features.base import AnalysisOptions
from imagelens.models.adapters.marian import MarianAdapter
from imagelens.models.catalog import CATALOG, TRANSLATORS
from imagelens.models.hub import ModelHub
from imagelens.testing.tiny_models import write_tiny_model
from imagelens.vocab import load_vocabulary, vocabulary_from_tags


def _jpeg(seed: int = 0) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG")
    return out.getvalue()


def test_the_azure_32_languages_and_major_tag_languages_have_pinned_translators() -> None:
    assert {"es", "ja", "pt", "zh", "de", "fr", "it"} <= set(TRANSLATORS)
    for lang, (repo, revision, _, _) in TRANSLATORS.items():
        spec = CATALOG[f"opus-mt-en-{lang}"]
        assert spec.source.repo_id == repo and len(revision) == 40  # type: ignore[union-attr]
        assert spec.options["target"] == lang


def test_tags_in_spanish_are_the_translated_names_with_the_same_confidences(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    image = _jpeg()
    en = analyzer.analyze(image, "tags", AnalysisOptions(language="en")).tags
    es = analyzer.analyze(image, "tags", AnalysisOptions(language="es")).tags
    assert en and es
    vocab = load_vocabulary()
    names = translation.tag_names(analyzer.hub, vocab, "es")
    assert len(names) == len(vocab) and all(names)
    to_es = dict(zip(vocab.tags, names, strict=True))
    mapped: list[tuple[str, float]] = []
    for tag in en:  # names that collide are reported once, with the higher (first) confidence
        if to_es[tag.name] not in {n for n, _ in mapped}:
            mapped.append((to_es[tag.name], tag.confidence))
    assert [(t.name, t.confidence) for t in es][: len(mapped)] == mapped[: len(es)]


def test_chinese_tags_keep_rams_own_names_without_a_translator(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    analyzer.analyze(_jpeg(), "tags", AnalysisOptions(language="zh"))
    assert not any(i.startswith("opus-mt") for i in analyzer.hub.loaded_ids())


def test_caption_and_dense_captions_in_japanese(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    image = _jpeg(1)
    en = analyzer.analyze(image, ["caption", "denseCaptions"])
    ja = analyzer.analyze(image, ["caption", "denseCaptions"], AnalysisOptions(language="ja"))
    assert ja.caption is not None and en.caption is not None
    assert isinstance(ja.caption.text, str) and ja.caption.confidence == en.caption.confidence
    assert [(d.confidence, d.box) for d in ja.dense_captions] == [
        (d.confidence, d.box) for d in en.dense_captions
    ]
    assert "opus-mt-en-ja" in analyzer.hub.loaded_ids()


def _hub(root: Path) -> ModelHub:
    return ModelHub(Settings(model_dir=root, hub=HubSettings(offline=True, cache_dir=root / "hf-cache")))


@pytest.mark.parametrize("features", [["tags"], ["caption"], ["denseCaptions"]])
def test_a_missing_translator_names_the_pull_command(tmp_path: Path, features: list[str]) -> None:
    hub = _hub(tmp_path)
    with pytest.raises(NotSupportedLanguageError, match="imagelens models pull opus-mt-en-pt") as info:
        translation.check_translator(hub, "pt", features[0])
    assert info.value.status == 400
    assert hub.loaded_ids() == []


def test_vocabulary_translations_are_cached_on_disk_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tiny_model(CATALOG["opus-mt-en-fr"], tmp_path)
    calls: list[int] = []
    original = MarianAdapter.translate

    def counting(self: MarianAdapter, texts: Any) -> list[str]:
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(MarianAdapter, "translate", counting)
    vocab = vocabulary_from_tags(["dog", "cat", "red car", "sky"], name="t")
    translation.clear_memory_cache()
    first = translation.tag_names(_hub(tmp_path), vocab, "fr")
    assert calls == [4] and len(first) == 4
    cached = list((tmp_path / "opus-mt-en-fr" / "translations").glob("tags-fr-*.json"))
    assert len(cached) == 1
    translation.clear_memory_cache()
    again = translation.tag_names(_hub(tmp_path), vocab, "fr")  # a fresh hub: read back from disk
    assert again == first and calls == [4]
    other = vocabulary_from_tags(["dog", "cat"], name="u")  # another vocabulary: another cache entry
    translation.tag_names(_hub(tmp_path), other, "fr")
    assert calls == [4, 2]
    translation.clear_memory_cache()
