"""The ``tags`` feature on a tiny random SigLIP loaded through the real hub: contracts, not accuracy."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from imagelens.analyzer import Analyzer
from imagelens.calibration import CALIBRATION_FILE, Platt, TagCalibration, sigmoid
from imagelens.config import HubSettings, Settings
from imagelens.errors import InvalidArgumentError, NotSupportedLanguageError
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.tags import (
    IMAGE_EMBEDDING,
    TaggerConfig,
    TagsFeature,
    fit_calibration_on_images,
    main,
    select_tags,
)
from imagelens.io import load_image
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub
from imagelens.types import Tag
from imagelens.vocab import load_vocabulary

MODEL_ID = "siglip2-base-patch16-224"
SPEC = CATALOG[MODEL_ID]
# name, Chinese name, disabled. "kitten" and "cat" share a Chinese name on purpose.
SMALL_VOCAB = [
    ("dog", "狗", ""), ("cat", "猫", ""), ("kitten", "猫", ""), ("harbour", "港口", ""), ("street", "街道", ""),
    ("sky", "天空", ""), ("boat", "船", ""), ("tree", "树", ""), ("group", "群体", "1"), ("beach", "海滩", ""),
]  # fmt: skip


def _picture(seed: int = 0, shape: tuple[int, int] = (90, 150)) -> npt.NDArray[np.uint8]:
    """A smooth non-square picture (gradients and a block), not noise."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, ((x + y + 37 * seed) % 97) * 2], axis=-1).astype(np.uint8)
    img[h // 4 : h // 2, w // 3 : w // 2] = (30 + 40 * seed) % 256
    return img


@pytest.fixture()
def small_vocab(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["tag", "tag_zh", "disabled"])
        writer.writerows(SMALL_VOCAB)
    return path


def _analyzer(settings: Settings, **options: Any) -> Analyzer:
    spec = replace(SPEC, options={**SPEC.options, **options})
    return Analyzer(settings, ModelHub(settings, catalog={**CATALOG, MODEL_ID: spec}))


def _expected_confidences(
    analyzer: Analyzer, image: npt.NDArray[np.uint8], tags: tuple[str, ...]
) -> np.ndarray:
    """sigmoid(scale * cos + bias) from the adapter's embeddings (identity calibration), outside the feature.
    (Prompt embeddings are checked against plain text embeddings in the adapter's tests.)"""
    model = analyzer.hub.embedder()
    img = model.embed_images([image])[0].astype(np.float64)
    txt = model.prompt_embeddings(tags, ("a photo of a {}.",)).astype(np.float64)
    return sigmoid(model.logit_scale * (txt @ img) + model.logit_bias)


def test_ram_tags_contract(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    image = _picture()
    tags = analyzer.analyze(image, "tags").tags
    assert isinstance(tags, tuple) and tags
    assert all(isinstance(t, Tag) for t in tags)
    conf = [t.confidence for t in tags]
    assert all(0.0 <= c <= 1.0 for c in conf)
    assert conf == sorted(conf, reverse=True)
    assert 1 <= len(tags) <= SPEC.options["max_tags"]
    vocab = load_vocabulary("ram")
    names = [t.name for t in tags]
    assert set(names) <= set(vocab.tags)
    assert not set(names) & set(load_vocabulary("ram", drop_disabled=False).disabled_tags)
    # the confidences are the model's own sigmoid (identity calibration), and nothing better was left out
    expected = _expected_confidences(analyzer, image, vocab.tags)
    lookup = dict(zip(vocab.tags, expected, strict=True))
    np.testing.assert_allclose(conf, [lookup[n] for n in names], atol=1e-5)
    rest = [lookup[t] for t in vocab.tags if t not in set(names)]
    assert max(rest) <= min(conf) + 1e-6
    assert min(conf) >= SPEC.options["threshold"]


def test_chinese_names_for_the_same_tags_and_confidences(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    image = _picture(1)
    en = analyzer.analyze(image, "tags", AnalysisOptions(language="en")).tags
    zh = analyzer.analyze(image, "tags", AnalysisOptions(language="zh-Hans")).tags
    vocab = load_vocabulary("ram")
    conf = _expected_confidences(analyzer, image, vocab.tags)
    threshold, cap = SPEC.options["threshold"], SPEC.options["max_tags"]
    assert en == select_tags(conf, vocab.tags, threshold, cap)
    assert zh == select_tags(conf, vocab.names_for("zh"), threshold, cap)
    assert zh and not any(t.name.isascii() for t in zh[:5])
    # the same best tag, shown in Chinese
    assert zh[0] == Tag(
        dict(zip(vocab.tags, vocab.names_for("zh"), strict=True))[en[0].name], en[0].confidence
    )


@pytest.mark.parametrize("language", ["sw", "zh-Hant"])
def test_unsupported_language_is_refused_before_any_model_work(
    tiny_settings: Settings, language: str
) -> None:
    hub = ModelHub(tiny_settings)
    ctx = FeatureContext(load_image(_picture()), hub, AnalysisOptions(language=language), frozenset({"tags"}))
    with pytest.raises(NotSupportedLanguageError, match=f"'{language}'.*Supported languages: de, en, es, fr"):
        TagsFeature().run(ctx)
    assert hub.loaded_ids() == []
    with pytest.raises(NotSupportedLanguageError):
        Analyzer(tiny_settings).analyze(_picture(), "tags", AnalysisOptions(language=language))


def test_nothing_above_the_threshold_is_an_empty_tuple(tiny_settings: Settings, small_vocab: Path) -> None:
    result = _analyzer(tiny_settings, vocabulary=str(small_vocab), threshold=1.0).analyze(_picture(), "tags")
    assert result.tags == ()


def test_small_vocabulary_threshold_cap_disabled_and_shared_names(
    tiny_settings: Settings, small_vocab: Path
) -> None:
    image = _picture(2)
    everything = (
        _analyzer(tiny_settings, vocabulary=str(small_vocab), threshold=0.0).analyze(image, "tags").tags
    )
    names = [t.name for t in everything]
    assert sorted(names) == sorted(t for t, _, off in SMALL_VOCAB if not off)  # "group" is disabled
    capped = _analyzer(tiny_settings, vocabulary=str(small_vocab), threshold=0.0, max_tags=3).analyze(
        image, "tags"
    )
    assert capped.tags == everything[:3]
    mid = float(np.median([t.confidence for t in everything]))
    some = _analyzer(tiny_settings, vocabulary=str(small_vocab), threshold=mid).analyze(image, "tags").tags
    assert some == tuple(t for t in everything if t.confidence >= mid)
    zh = _analyzer(tiny_settings, vocabulary=str(small_vocab), threshold=0.0).analyze(
        image, "tags", AnalysisOptions(language="zh")
    )
    zh_names = [t.name for t in zh.tags]
    assert zh_names.count("猫") == 1  # cat and kitten share it: reported once, with the better confidence
    best_cat = max(t.confidence for t in everything if t.name in ("cat", "kitten"))
    assert next(t.confidence for t in zh.tags if t.name == "猫") == best_cat
    assert len(zh.tags) == len(everything) - 1


def test_a_calibration_file_next_to_the_model_is_applied(
    tiny_model_dir: Path, tmp_path: Path, small_vocab: Path
) -> None:
    root = tmp_path / "models"
    shutil.copytree(
        tiny_model_dir / MODEL_ID, root / MODEL_ID, ignore=shutil.ignore_patterns("text_embeddings")
    )
    TagCalibration(default=Platt(2.0, -0.5), per_tag={"sky": Platt(0.5, 3.0)}, threshold=0.9).save(
        root / MODEL_ID / CALIBRATION_FILE
    )
    settings = Settings(model_dir=root, hub=HubSettings(offline=True))
    analyzer = _analyzer(settings, vocabulary=str(small_vocab), threshold=0.0)  # the spec's threshold wins
    image = _picture(3)
    tags = analyzer.analyze(image, "tags").tags
    vocab = load_vocabulary(small_vocab)
    raw = _expected_confidences(analyzer, image, vocab.tags)
    logits = np.log(raw / (1 - raw))
    a = np.array([0.5 if t == "sky" else 2.0 for t in vocab.tags])
    b = np.array([3.0 if t == "sky" else -0.5 for t in vocab.tags])
    expected = dict(zip(vocab.tags, sigmoid(a * logits + b), strict=True))
    assert len(tags) == len(vocab)
    for tag in tags:
        assert tag.confidence == pytest.approx(expected[tag.name], abs=1e-5)


def test_image_embedding_is_a_shared_artefact_and_results_are_deterministic(tiny_settings: Settings) -> None:
    hub = ModelHub(tiny_settings)
    image = load_image(_picture(4))
    ctx = FeatureContext(image, hub, AnalysisOptions(), frozenset({"tags"}))
    first = TagsFeature().run(ctx)

    def must_not_run() -> None:
        raise AssertionError("the image embedding was computed twice")

    embedding = ctx.artefact(IMAGE_EMBEDDING, must_not_run)
    model = hub.embedder()
    np.testing.assert_allclose(embedding, model.embed_images([image.array()])[0], atol=1e-6)
    again = TagsFeature().run(
        FeatureContext(load_image(_picture(4)), hub, AnalysisOptions(), frozenset({"tags"}))
    )
    assert again == first


def test_exif_rotated_input_is_tagged_upright(tiny_settings: Settings, small_vocab: Path) -> None:
    upright = _picture(5)
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1)))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buf = io.BytesIO()
    stored.save(buf, "PNG", exif=exif)
    analyzer = _analyzer(tiny_settings, vocabulary=str(small_vocab), threshold=0.0)
    from_exif = analyzer.analyze(buf.getvalue(), "tags")
    assert (from_exif.metadata.width, from_exif.metadata.height) == (upright.shape[1], upright.shape[0])
    assert from_exif.tags == analyzer.analyze(upright, "tags").tags


# --- selection on fixed scores ---------------------------------------------------------------------------------------


def test_select_tags_on_fixed_confidences() -> None:
    names = ["a", "b", "c", "d", "e"]
    conf = [0.2, 0.9, 0.5, 0.9, 0.7]
    assert select_tags(conf, names, 0.5, 10) == (Tag("b", 0.9), Tag("d", 0.9), Tag("e", 0.7), Tag("c", 0.5))
    assert select_tags(conf, names, 0.5, 2) == (Tag("b", 0.9), Tag("d", 0.9))
    assert select_tags(conf, names, 0.95, 10) == ()
    assert select_tags(conf, ["x", "y", "x", "y", "z"], 0.0, 10) == (
        Tag("y", 0.9),
        Tag("z", 0.7),
        Tag("x", 0.5),
    )
    with pytest.raises(InvalidArgumentError, match="expected 5 confidences"):
        select_tags([0.1], names, 0.5, 10)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"max_tags": 0}, "max_tags"),
        ({"templates": ["no placeholder"]}, "template"),
        ({"calibration": {"a": -1.0}}, "slope"),
    ],
)
def test_bad_tagger_options_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        TaggerConfig.from_options(options)


# --- fitting a calibration (plumbing, on the tiny model) ---------------------------------------------------------------

CAPTIONS = {
    "0.png": ["a dog on the beach", "a dog under the sky"],
    "1.png": ["a boat in the harbour", "boats and sky"],
    "2.png": ["a cat in a tree"],
    "3.png": ["a street with trees", "a dog on a street"],
    "4.png": ["a kitten on the beach"],
    "5.png": ["the sky over the harbour"],
}


def _coco(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    images.mkdir()
    entries, anns = [], []
    for i, (name, caps) in enumerate(CAPTIONS.items()):
        Image.fromarray(_picture(i, (64 + 8 * i, 96))).save(images / name)
        entries.append({"id": i, "file_name": name})
        anns += [{"image_id": i, "id": 10 * i + k, "caption": c} for k, c in enumerate(caps)]
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({"images": entries, "annotations": anns}), encoding="utf-8")
    return images, captions


def test_fit_calibration_on_captioned_images(
    tiny_settings: Settings, tmp_path: Path, small_vocab: Path
) -> None:
    images, captions = _coco(tmp_path)
    model = ModelHub(tiny_settings).get(MODEL_ID)
    config = TaggerConfig.from_options({**SPEC.options, "vocabulary": str(small_vocab)})
    calibration, report = fit_calibration_on_images(
        model, config, {n: images / n for n in CAPTIONS}, CAPTIONS, min_examples=2
    )
    assert report["images"] == 6 and report["tags"] == 9
    # whole-word and plural matches of the small vocabulary in the captions
    assert report["positive_pairs"] == 15
    for half in ("held_out_uncalibrated", "held_out_calibrated"):
        assert 0.0 <= report[half]["ece"] <= 1.0 and 0.0 <= report[half]["brier"] <= 1.0
    assert calibration.default.a > 0
    assert set(calibration.per_tag) <= {t for t, _, off in SMALL_VOCAB}


def test_calibrate_command_writes_a_loadable_file(
    tiny_model_dir: Path, tmp_path: Path, small_vocab: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    images, captions = _coco(tmp_path)
    out = tmp_path / "cal.json"
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(tiny_model_dir))
    code = main(
        ["calibrate", "--images", str(images), "--captions", str(captions), "--vocabulary", str(small_vocab),
         "--min-examples", "2", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    calibration = TagCalibration.load(out)
    assert calibration.default.to_dict() == report["fitted"]["default"]
    assert "caption-derived" in calibration.source
