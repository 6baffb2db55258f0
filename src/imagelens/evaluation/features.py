"""``read`` (word P/R/F1 on SROIE-style receipts), ``tags`` (multi-label against COCO category names) and
``segment`` (the person and salient-object mIoU of :mod:`imagelens.segment.evaluate`, in the common shape)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.coco import CocoFolder
from imagelens.evaluation.detection import operating_point
from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.thresholds import PRCurve, pr_curve, threshold_for_precision

RGBLoader = Callable[[str], npt.NDArray[np.uint8]]
#: (text, confidence) per recognised word, for one image.
WordReader = Callable[[npt.NDArray[np.uint8]], Sequence[tuple[str, float]]]
#: (name, confidence) per tag, for one image.
Tagger = Callable[[npt.NDArray[np.uint8]], Sequence[tuple[str, float]]]

#: COCO category names whose everyday word differs (a tag with either name matches).
TAG_ALIASES: dict[str, tuple[str, ...]] = {
    "tv": ("television", "tv monitor", "monitor"),
    "couch": ("sofa",),
    "cell phone": ("mobile phone", "phone", "smartphone"),
    "motorcycle": ("motorbike",),
    "airplane": ("aeroplane", "plane", "aircraft"),
    "dining table": ("table",),
    "potted plant": ("houseplant", "plant"),
    "sports ball": ("ball",),
    "hair drier": ("hair dryer",),
    "laptop": ("laptop computer",),
    "person": ("man", "woman", "people", "child", "boy", "girl"),
}


# --- read ----------------------------------------------------------------------------------------------------------


def sroie_truth(root: Path) -> list[tuple[Path, list[str]]]:
    """``(image, ground-truth lines)`` of a SROIE-style folder: ``img/NNN.jpg`` and ``box/NNN.csv`` rows
    ``x1,y1,...,y4,transcript`` (split with maxsplit=8: transcripts hold commas)."""
    images, boxes = root / "img", root / "box"
    if not images.is_dir() or not boxes.is_dir():
        raise InvalidArgumentError(f"{root} must hold img/*.jpg and box/*.csv (the SROIE layout)")
    out = []
    for image in sorted(images.glob("*.jpg")):
        csv = boxes / f"{image.stem}.csv"
        if not csv.is_file():
            continue
        lines = []
        for row in csv.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = row.split(",", 8)
            if len(parts) == 9 and parts[8].strip():
                lines.append(parts[8])
        out.append((image, lines))
    if not out:
        raise InvalidArgumentError(f"{root} has no image with a box/*.csv ground truth")
    return out


def word_flags(truth: Counter[str], words: Iterable[tuple[str, float]]) -> tuple[list[float], list[bool]]:
    """Best confidence first, a word is right while the truth still holds an unmatched copy of it."""
    left = Counter(truth)
    scores, flags = [], []
    for text, conf in sorted(((t.lower(), c) for t, c in words), key=lambda w: -w[1]):
        for token in text.split():
            ok = left[token] > 0
            if ok:
                left[token] -= 1
            scores.append(float(conf))
            flags.append(ok)
    return scores, flags


def evaluate_read(
    read: WordReader, root: Path, load: RGBLoader, *, model_id: str, target_precision: float = 0.9
) -> tuple[EvalReport, dict[str, PRCurve]]:
    """Word precision, recall and F1 (lower-cased, whitespace tokens, multiset matching, as
    benchmarks/ocr_sroie.py), and the word-confidence threshold for ``target_precision``."""
    pairs = sroie_truth(root)
    scores: list[float] = []
    flags: list[bool] = []
    positives = 0
    ms: list[float] = []
    for image, lines in pairs:
        truth = Counter(tok for line in lines for tok in line.lower().split())
        positives += sum(truth.values())
        rgb = load(str(image))
        t0 = time.perf_counter()
        words = read(rgb)
        ms.append(1000.0 * (time.perf_counter() - t0))
        s, f = word_flags(truth, words)
        scores += s
        flags += f
    tp, n_pred = int(np.sum(flags)), len(flags)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / positives if positives else 0.0
    curve = pr_curve(scores, flags, positives)
    metrics: dict[str, float | int | None] = {
        "F1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "precision": precision,
        "recall": recall,
        "words": positives,
        "ms_per_image": float(np.mean(ms)) if ms else None,
    }
    choice = threshold_for_precision(curve, target_precision)
    return (
        EvalReport("read", model_id, str(root), len(pairs), metrics, choice.to_dict()),
        {"words": curve},
    )


# --- tags ----------------------------------------------------------------------------------------------------------


def tag_names(category: str) -> set[str]:
    return {category.lower(), *TAG_ALIASES.get(category.lower(), ())}


def evaluate_tags(
    tag: Tagger,
    coco: CocoFolder,
    load: RGBLoader,
    *,
    model_id: str,
    operating_threshold: float,
    target_precision: float = 0.9,
) -> tuple[EvalReport, dict[str, PRCurve]]:
    """Multi-label: the truth of an image is the set of COCO categories with an instance in it; a tag is right when
    its name is one of a present category's names (:data:`TAG_ALIASES`), once per category; tags that name no
    COCO category are left out (the vocabulary is larger than COCO's 80 names: they can be neither right nor
    wrong here); a tag naming an absent COCO category is wrong."""
    vocab: dict[str, int] = {}
    for cid, name in coco.categories.items():
        for alias in tag_names(name):
            vocab.setdefault(alias, cid)
    by_image = coco.annotations_by_image()
    scores: list[float] = []
    flags: list[bool] = []
    positives = 0
    for image in coco.images:
        present = {int(a["category_id"]) for a in by_image.get(int(image["id"]), [])}
        positives += len(present)
        seen: set[int] = set()
        for name, conf in sorted(tag(load(str(coco.image_path(image)))), key=lambda t: -t[1]):
            found = vocab.get(name.lower())
            if found is None or found in seen:
                continue
            seen.add(found)
            scores.append(float(conf))
            flags.append(found in present)
    curve = pr_curve(scores, flags, positives)
    precision, recall = operating_point(curve, operating_threshold)
    metrics: dict[str, float | int | None] = {
        "precision": precision,
        "recall": recall,
        "F1": 2 * precision * recall / (precision + recall) if precision and recall else 0.0,
        "AP": curve.average_precision(),
        "operating_threshold": operating_threshold,
    }
    choice = threshold_for_precision(curve, target_precision)
    return (
        EvalReport("tags", model_id, str(coco.root), len(coco.images), metrics, choice.to_dict()),
        {"tags": curve},
    )


# --- segment -------------------------------------------------------------------------------------------------------


def segment_report(raw: dict[str, Any]) -> EvalReport:
    """The report of :func:`imagelens.segment.evaluate.evaluate_coco` in the common shape (a mask has no score to
    threshold here: the matte is cut at 0.5)."""
    person, salient = raw["person"], raw["salient"]
    return EvalReport(
        feature="segment",
        model=str(raw.get("model")),
        data=str(raw.get("data")),
        n=len(set(person["per_image"]) | set(salient["per_image"])),
        metrics={
            "mIoU": person["miou"],
            "person_images": person["images"],
            "salient_mIoU": salient["miou"],
            "salient_images": salient["images"],
            "ms_per_image": raw.get("ms_per_image"),
        },
        details={"refine": raw.get("refine"), "person": person, "salient": salient},
    )
