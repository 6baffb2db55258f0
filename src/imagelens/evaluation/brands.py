"""``imagelens eval brands``: precision and recall of the ``brands`` feature on a labelled folder.

Labels (``--labels``, default ``<data>/brands.json`` or ``<data>/brands.csv``), image paths relative to the data
folder (or absolute):

* JSON: ``{"images": [{"image": "img/009.jpg", "brands": [{"name": "McDonald's", "box": [x, y, w, h]}]}]}`` --
  ``box`` optional; an image with ``"brands": []`` is a negative;
* CSV with a header ``image,brand[,x,y,w,h]``: one row per brand, a row with an empty ``brand`` for a negative.

Matching: names by :func:`~imagelens.features.brand_list.brand_key` (case, spaces and punctuation ignored). A truth
with a box matches one prediction of that brand covering half of the smaller box; a truth without a box is an
image-level label and matches the image's best prediction of that brand. Every other prediction is a false positive
(image-level: one per brand and image). The sweep runs the feature once per image at threshold 0 and thresholds the
scores afterwards, so it is exactly what each threshold would return.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.thresholds import PRCurve, pr_curve, threshold_for_precision
from imagelens.features.brand_list import brand_key
from imagelens.features.brands import overlap
from imagelens.types import BoundingBox

SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True, slots=True)
class TruthBrand:
    name: str
    box: BoundingBox | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    name: str
    score: float
    box: BoundingBox


def _box(value: Any, where: str) -> BoundingBox | None:
    if value is None or value == "" or value == []:
        return None
    try:
        x, y, w, h = (float(v) for v in value)
        return BoundingBox(x, y, w, h)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{where}: a box is [x, y, w, h] in pixels, got {value!r}") from None


def load_labels(path: Path) -> dict[str, list[TruthBrand]]:
    """image path (as written) -> its brands (``[]``: a negative image)."""
    if not path.is_file():
        raise InvalidArgumentError(
            f"no brand labels at {path} (a brands.json or brands.csv; see docs/brands.md)"
        )
    labels: dict[str, list[TruthBrand]] = {}
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), 2):
                image = (row.get("image") or "").strip()
                if not image:
                    raise InvalidArgumentError(f"{path}:{n}: the 'image' column is empty")
                entry = labels.setdefault(image, [])
                name = (row.get("brand") or "").strip()
                if name:
                    coords = [row.get(k) for k in ("x", "y", "w", "h")]
                    box = _box(coords if all(c not in (None, "") for c in coords) else None, f"{path}:{n}")
                    entry.append(TruthBrand(name, box))
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            for n, item in enumerate(data["images"]):
                labels[str(item["image"])] = [
                    TruthBrand(str(b["name"]), _box(b.get("box"), f"{path}: images[{n}]"))
                    for b in item.get("brands", [])
                ]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgumentError(f"{path}: not a brand label file ({exc})") from None
    if not labels:
        raise InvalidArgumentError(f"{path} labels no images")
    return labels


def match_image(
    truth: Sequence[TruthBrand], predictions: Sequence[Prediction]
) -> tuple[list[tuple[float, bool]], int]:
    """``[(score, is_true_positive)]`` for one image's predictions and its number of positives (see the module doc)."""
    preds = sorted(predictions, key=lambda p: -p.score)
    boxed = [t for t in truth if t.box is not None]
    image_level = {brand_key(t.name) for t in truth if t.box is None}
    used_boxes: set[int] = set()
    used_names: set[str] = set()
    seen_fp: set[str] = set()
    rows: list[tuple[float, bool]] = []
    for p in preds:
        key = brand_key(p.name)
        hit = next(
            (i for i, t in enumerate(boxed)
             if i not in used_boxes and brand_key(t.name) == key and t.box is not None
             and overlap(t.box, p.box) >= 0.5),
            None,
        )  # fmt: skip
        if hit is not None:
            used_boxes.add(hit)
            rows.append((p.score, True))
        elif key in image_level and key not in used_names:
            used_names.add(key)
            rows.append((p.score, True))
        elif key in image_level or (not boxed and key in seen_fp):
            continue  # another box of an image-level brand, or a repeat of an image-level false positive
        else:
            seen_fp.add(key)
            rows.append((p.score, False))
    return rows, len(boxed) + len(image_level)


def _at(scores: np.ndarray, tp: np.ndarray, positives: int, t: float) -> dict[str, float | int | None]:
    kept = scores >= t
    n_tp, n_fp = int((tp & kept).sum()), int((~tp & kept).sum())
    precision = n_tp / (n_tp + n_fp) if n_tp + n_fp else None
    recall = n_tp / positives if positives else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {"threshold": t, "precision": precision, "recall": recall, "f1": f1, "tp": n_tp, "fp": n_fp,
            "fn": positives - n_tp}  # fmt: skip


def evaluate_brands(
    predict: Callable[[Path], Sequence[Prediction]],
    labels: dict[str, list[TruthBrand]],
    data: Path,
    *,
    model: str,
    threshold: float,
    target_precision: float = 0.9,
) -> tuple[EvalReport, dict[str, PRCurve]]:
    """Run ``predict`` (every candidate, threshold 0) on each labelled image; the report at ``threshold``, the sweep
    and the PR curve."""
    rows: list[tuple[float, bool]] = []
    positives = 0
    per_image: dict[str, Any] = {}
    for image, truth in labels.items():
        path = Path(image) if Path(image).is_absolute() else data / image
        if not path.is_file():
            raise InvalidArgumentError(f"the labelled image {path} does not exist")
        preds = list(predict(path))
        image_rows, n_pos = match_image(truth, preds)
        rows += image_rows
        positives += n_pos
        per_image[image] = {
            "truth": [t.name for t in truth],
            "predicted": [(p.name, round(p.score, 4)) for p in preds if p.score >= threshold],
        }
    scores = np.array([s for s, _ in rows], np.float64)
    tp = np.array([t for _, t in rows], bool)
    curve = pr_curve(scores, tp, positives)
    choice = threshold_for_precision(curve, target_precision)
    at = _at(scores, tp, positives, threshold)
    metrics: dict[str, float | int | None] = {
        "precision": at["precision"], "recall": at["recall"], "f1": at["f1"],
        "tp": at["tp"], "fp": at["fp"], "fn": at["fn"], "positives": positives,
        "threshold": threshold, "ap": curve.average_precision(),
    }  # fmt: skip
    sweep = [_at(scores, tp, positives, t) for t in SWEEP]
    report = EvalReport(
        "brands",
        model,
        str(data),
        len(labels),
        metrics,
        choice.to_dict(),
        {"sweep": sweep, "images": per_image},
    )
    return report, {"brands": curve}


def sweep_table(report: EvalReport) -> str:
    """The sweep as aligned text rows."""
    lines = ["  threshold  precision  recall  f1      tp  fp  fn"]
    for row in report.details.get("sweep", []):
        p = "-" if row["precision"] is None else f"{row['precision']:.3f}"
        r = "-" if row["recall"] is None else f"{row['recall']:.3f}"
        lines.append(
            f"  {row['threshold']:<9.2f}  {p:>9}  {r:>6}  {row['f1']:.3f}  {row['tp']:>3} {row['fp']:>3} {row['fn']:>3}"
        )
    return "\n".join(lines)
