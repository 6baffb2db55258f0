"""The ``tags`` feature: an open vocabulary (RAM's 4,585 concepts by default) scored with an image-text model.

For each tag ``t`` the image-text model (SigLIP 2 by default) gives its native multi-label logit
``scale * cos(image, prompt(t)) + bias``, where ``prompt(t)`` averages the tag's prompt templates ("a photo of a
{}.") in embedding space. A Platt transform (:mod:`imagelens.calibration`) turns the logit into the confidence;
tags at or above the threshold are returned, best first, at most ``max_tags``, RAM's disabled tags never.

Where the settings come from (the embedding model's ``spec.options``): ``vocabulary`` ("ram" or a file),
``templates``, ``threshold``, ``max_tags``, ``calibration`` ({"a", "b"}). A fitted calibration file
(``imagelens_tag_calibration.json``) next to the model's weights replaces ``calibration``; ``threshold`` in the spec
still wins over the file's. Fit one with ``python -m imagelens.features.tags calibrate`` (see
``benchmarks/tags_calibration.md``).

``language`` only changes the names shown: ``zh`` gives RAM's Chinese names for the same tags and confidences; other
languages the English names translated by that language's translator (:mod:`imagelens.features.translation`, cached
once per language). Two tags that share a name are reported once, with the higher confidence. A language with no
translator present raises :class:`NotSupportedLanguageError` before any model work.

The image embedding is the per-image artefact ``"image_embedding"`` (:func:`image_embedding`), so retrieval,
moderation or custom classifiers in the same call reuse it. Prompt embeddings are computed once per model and
vocabulary and cached on disk by the adapter (the first call with a base model on 2 cores takes minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from imagelens.calibration import (
    CALIBRATION_FILE,
    Platt,
    TagCalibration,
    brier_score,
    caption_labels,
    expected_calibration_error,
    fit_tag_calibration,
)
from imagelens.errors import InvalidArgumentError
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.translation import check_translator, preload_translator, tag_names
from imagelens.models.hub import ModelHub
from imagelens.models.roles import ImageTextEmbedder
from imagelens.models.spec import Role
from imagelens.types import Tag
from imagelens.vocab import TagVocabulary, load_vocabulary

#: The FeatureContext artefact key of the image embedding (a ``(D,)`` float32 unit vector from the model that serves
#: :attr:`Role.IMAGE_TEXT_EMBEDDING`).
IMAGE_EMBEDDING = "image_embedding"
DEFAULT_TEMPLATES: tuple[str, ...] = ("a photo of a {}.",)


@dataclass(frozen=True, slots=True)
class TaggerConfig:
    """The tagger's settings, from the embedding model's ``spec.options``."""

    vocabulary: str = "ram"
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    threshold: float | None = None  # None: the calibration's threshold
    max_tags: int = 50
    calibration: Platt = Platt()

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise InvalidArgumentError(f"the tag threshold must be in [0, 1], got {self.threshold!r}")
        if self.max_tags < 1:
            raise InvalidArgumentError(f"max_tags must be >= 1, got {self.max_tags!r}")
        if not self.templates or any(t.count("{}") != 1 for t in self.templates):
            raise InvalidArgumentError(
                f"each tag template needs exactly one '{{}}', got {list(self.templates)!r}"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TaggerConfig:
        threshold = options.get("threshold")
        return cls(
            vocabulary=str(options.get("vocabulary", "ram")),
            templates=tuple(options.get("templates") or DEFAULT_TEMPLATES),
            threshold=None if threshold is None else float(threshold),
            max_tags=int(options.get("max_tags", 50)),
            calibration=Platt.from_dict(options.get("calibration") or {}),
        )


def load_calibration(model_path: Path | None, config: TaggerConfig) -> TagCalibration:
    """The fitted file next to the weights when there is one, else the spec's (default) transform; the spec's
    threshold, when set, overrides either."""
    file = model_path / CALIBRATION_FILE if model_path is not None else None
    if file is not None and file.is_file():
        calibration = TagCalibration.load(file)
    else:
        calibration = TagCalibration(default=config.calibration, source="spec.options (not fitted)")
    if config.threshold is not None and config.threshold != calibration.threshold:
        calibration = TagCalibration(
            calibration.default, calibration.per_tag, config.threshold, calibration.source
        )
    return calibration


@dataclass(frozen=True, slots=True, eq=False)
class TagIndex:
    """A vocabulary ready to score: prompt embeddings ``(T, D)`` and the calibration as per-tag vectors."""

    vocabulary: TagVocabulary
    embeddings: npt.NDArray[np.float32]
    calibration: TagCalibration
    platt_a: npt.NDArray[np.float64]
    platt_b: npt.NDArray[np.float64]

    def confidences(
        self, model: ImageTextEmbedder, image_embedding: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Calibrated confidence of every tag for one image embedding ``(D,)``."""
        cos = self.embeddings.astype(np.float64) @ np.asarray(image_embedding, np.float64)
        logits = model.logit_scale * cos + model.logit_bias
        return TagCalibration.apply_vectors(logits, self.platt_a, self.platt_b)


_INDEXES: weakref.WeakKeyDictionary[ImageTextEmbedder, dict[tuple[Any, ...], TagIndex]] = (
    weakref.WeakKeyDictionary()
)
_INDEX_LOCK = threading.Lock()


def build_tag_index(model: ImageTextEmbedder, config: TaggerConfig) -> TagIndex:
    """Load the vocabulary, embed (or read back) its prompts, resolve the calibration. Memoised per loaded model, so
    it is built once per model load; call it at start-up to pay the first-call cost early."""
    key = (config.vocabulary, config.templates, config.threshold, config.calibration)
    with _INDEX_LOCK:
        found = _INDEXES.get(model, {}).get(key)
    if found is not None:
        return found
    vocab = load_vocabulary(config.vocabulary)
    embeddings = model.prompt_embeddings(vocab.tags, config.templates)
    calibration = load_calibration(model.path, config)
    a, b = calibration.parameters(vocab.tags)
    index = TagIndex(vocab, embeddings, calibration, a, b)
    with _INDEX_LOCK:
        _INDEXES.setdefault(model, {})[key] = index
    return index


def select_tags(
    confidences: npt.ArrayLike, names: Sequence[str], threshold: float, max_tags: int
) -> tuple[Tag, ...]:
    """Tags at or above ``threshold``, best first (ties: vocabulary order), one per display name, at most ``max_tags``."""
    conf = np.asarray(confidences, np.float64)
    if conf.shape != (len(names),):
        raise InvalidArgumentError(f"expected {len(names)} confidences, got shape {conf.shape}")
    passing = np.flatnonzero(conf >= threshold)
    order = passing[np.argsort(-conf[passing], kind="stable")]
    tags: list[Tag] = []
    seen: set[str] = set()
    for i in order:
        name = names[int(i)]
        if name in seen:
            continue
        seen.add(name)
        tags.append(Tag(name=name, confidence=float(np.clip(conf[i], 0.0, 1.0))))
        if len(tags) == max_tags:
            break
    return tuple(tags)


def image_embedding(ctx: FeatureContext) -> npt.NDArray[np.float32]:
    """The image's embedding from the :attr:`Role.IMAGE_TEXT_EMBEDDING` model, computed once per image and call."""

    def compute() -> npt.NDArray[np.float32]:
        return ctx.hub.embedder().embed_images([ctx.image.array()])[0]

    return ctx.artefact(IMAGE_EMBEDDING, compute)


class TagsFeature:
    """Azure's ``tags``: names with confidences in [0, 1], sorted, above a calibrated threshold."""

    name: ClassVar[str] = "tags"
    field: ClassVar[str] = "tags"
    needs: ClassVar[tuple[Role, ...]] = (Role.IMAGE_TEXT_EMBEDDING,)
    after: ClassVar[tuple[str, ...]] = ()

    def validate(self, options: AnalysisOptions, hub: ModelHub) -> None:
        spec = hub.spec(hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING))
        vocab = load_vocabulary(TaggerConfig.from_options(spec.options).vocabulary)
        # The vocabulary's own names (en, RAM's zh) or a present translator; loads nothing.
        check_translator(hub, options.language, self.name, native=vocab.languages)

    def preload(self, options: AnalysisOptions, hub: ModelHub) -> None:
        spec = hub.spec(hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING))
        vocab = load_vocabulary(TaggerConfig.from_options(spec.options).vocabulary)
        preload_translator(hub, options.language, self.name, vocab.languages)

    def run(self, ctx: FeatureContext) -> tuple[Tag, ...]:
        hub = ctx.hub
        spec = hub.spec(hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING))
        config = TaggerConfig.from_options(spec.options)
        # An unsupported language fails before any model is loaded or image embedded.
        vocab = load_vocabulary(config.vocabulary)
        check_translator(hub, ctx.options.language, self.name, native=vocab.languages)
        names = tag_names(hub, vocab, ctx.options.language)
        model = hub.embedder()
        index = build_tag_index(model, config)
        confidences = index.confidences(model, image_embedding(ctx))
        return select_tags(confidences, names, index.calibration.threshold, config.max_tags)


# --- fitting a calibration (needs the real model) -------------------------------------------------------------------


def coco_texts(captions_json: Path, instances_json: Path | None = None) -> dict[str, list[str]]:
    """file name -> the image's COCO captions (and category names, from ``instances_json`` when given)."""
    caps = json.loads(captions_json.read_text(encoding="utf-8"))
    by_id = {img["id"]: img["file_name"] for img in caps["images"]}
    texts: dict[str, list[str]] = {name: [] for name in by_id.values()}
    for ann in caps["annotations"]:
        texts[by_id[ann["image_id"]]].append(ann["caption"])
    if instances_json is not None:
        inst = json.loads(instances_json.read_text(encoding="utf-8"))
        cats = {c["id"]: c["name"] for c in inst["categories"]}
        inst_names = {img["id"]: img["file_name"] for img in inst["images"]}
        for ann in inst["annotations"]:
            name = inst_names.get(ann["image_id"])
            if name in texts:
                texts[name].append(cats[ann["category_id"]])
    return texts


def fit_calibration_on_images(
    model: ImageTextEmbedder,
    config: TaggerConfig,
    images: Mapping[str, Path],
    texts: Mapping[str, Sequence[str]],
    *,
    min_examples: int = 20,
) -> tuple[TagCalibration, dict[str, Any]]:
    """Fit the tag calibration on images with caption-derived labels; returns it and a report.

    The images are split in two by position (even / odd): the calibration is fitted on the first half and its ECE,
    Brier score and tag counts are reported on the held-out half, next to the uncalibrated model's; the returned
    calibration is then refitted on all images.
    """
    from imagelens.io import load_image

    names = sorted(set(images) & set(texts))
    if len(names) < 4:
        raise InvalidArgumentError(f"fitting needs at least 4 images with texts, got {len(names)}")
    vocab = load_vocabulary(config.vocabulary)
    prompts = model.prompt_embeddings(vocab.tags, config.templates)
    embeddings = np.stack([model.embed_images([load_image(images[n]).array()])[0] for n in names])
    logits = (
        model.logit_scale * (embeddings.astype(np.float64) @ prompts.T.astype(np.float64)) + model.logit_bias
    )
    labels = caption_labels([texts[n] for n in names], vocab.tags)
    threshold = config.threshold if config.threshold is not None else 0.5
    fit_rows, test_rows = np.arange(0, len(names), 2), np.arange(1, len(names), 2)
    half = fit_tag_calibration(
        logits[fit_rows], labels[fit_rows], vocab.tags, min_examples=min_examples, threshold=threshold
    )

    def summary(probs: npt.NDArray[np.float64], y: npt.NDArray[np.bool_]) -> dict[str, float]:
        predicted = probs >= threshold
        tp = float((predicted & y).sum())
        return {
            "ece": expected_calibration_error(probs, y),
            "brier": brier_score(probs, y),
            "tags_per_image": float(predicted.sum(axis=1).mean()),
            "precision_vs_captions": tp / max(float(predicted.sum()), 1.0),
            "recall_vs_captions": tp / max(float(y.sum()), 1.0),
        }

    y_test = labels[test_rows]
    report = {
        "images": len(names),
        "tags": len(vocab),
        "positive_pairs": int(labels.sum()),
        "threshold": threshold,
        "held_out_uncalibrated": summary(TagCalibration().apply(logits[test_rows], vocab.tags), y_test),
        "held_out_calibrated": summary(half.apply(logits[test_rows], vocab.tags), y_test),
    }
    full = fit_tag_calibration(
        logits, labels, vocab.tags, min_examples=min_examples, threshold=threshold,
        source=f"caption-derived labels of {len(names)} images (imagelens.features.tags calibrate)",
    )  # fmt: skip
    report["fitted"] = {"default": full.default.to_dict(), "per_tag": len(full.per_tag)}
    return full, report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m imagelens.features.tags calibrate --images DIR --captions FILE [--instances FILE] [--out FILE]``"""
    parser = argparse.ArgumentParser(prog="python -m imagelens.features.tags")
    sub = parser.add_subparsers(dest="command", required=True)
    cal = sub.add_parser("calibrate", help="fit the tag calibration on COCO-style images and captions")
    cal.add_argument(
        "--images", type=Path, required=True, help="folder of the images named in the captions file"
    )
    cal.add_argument("--captions", type=Path, required=True, help="COCO captions JSON")
    cal.add_argument(
        "--instances", type=Path, default=None, help="COCO instances JSON (category names as labels)"
    )
    cal.add_argument("--model", default=None, help="model id (default: the image-text embedding default)")
    cal.add_argument("--vocabulary", default=None, help="'ram' or a vocabulary file (default: the model's)")
    cal.add_argument("--max-images", type=int, default=None)
    cal.add_argument("--min-examples", type=int, default=20)
    cal.add_argument("--out", type=Path, default=None, help=f"default: {CALIBRATION_FILE} next to the model")
    args = parser.parse_args(argv)

    from imagelens.models.hub import ModelHub

    hub = ModelHub()
    model_id = args.model or hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING)
    model = hub.embedder(model_id)
    texts = coco_texts(args.captions, args.instances)
    images = {n: args.images / n for n in sorted(texts) if (args.images / n).is_file()}
    if args.max_images:
        images = dict(list(images.items())[: args.max_images])
    options = dict(hub.spec(model_id).options)
    if args.vocabulary:
        options["vocabulary"] = args.vocabulary
    config = TaggerConfig.from_options(options)
    calibration, report = fit_calibration_on_images(
        model, config, images, texts, min_examples=args.min_examples
    )
    out = args.out or (model.path / CALIBRATION_FILE if model.path is not None else Path(CALIBRATION_FILE))
    calibration.save(out)
    print(json.dumps(report, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
