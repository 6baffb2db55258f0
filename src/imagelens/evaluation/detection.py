"""``objects`` and ``people``: a closed-vocabulary detector against COCO boxes.

mAP@[.50:.95], AP50 and AP75 are COCOeval's (bbox, area "all", 100 detections per image), computed by
:func:`imagelens.customize.metrics.evaluate_detection`, which equals pycocotools; ``check_pycocotools`` runs
pycocotools on the same detections and reports the largest difference. The detector runs at a low score
(``min_score``, 0.01 as COCO evaluations do); the operating point and the threshold recommendation use greedy
matching at IoU 0.5 (crowd regions ignored), pooled over classes.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.customize.metrics import DetectionGroundTruth, DetectionPredictions, evaluate_detection
from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.coco import CocoFolder
from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.thresholds import PRCurve, pr_curve, threshold_for_precision
from imagelens.geometry import iou_matrix

RGBLoader = Callable[[str], npt.NDArray[np.uint8]]
MIN_SCORE = 0.01
MATCH_IOU = 0.5


@dataclass(frozen=True, slots=True, eq=False)
class ImageDetections:
    image_id: int
    detections: Detections
    ms: float


def run_detector(
    detect: Callable[[npt.NDArray[np.uint8]], Detections], coco: CocoFolder, load: RGBLoader
) -> list[ImageDetections]:
    out = []
    for image in coco.images:
        rgb = load(str(coco.image_path(image)))
        t0 = time.perf_counter()
        found = detect(rgb)
        out.append(ImageDetections(int(image["id"]), found, 1000.0 * (time.perf_counter() - t0)))
    return out


def to_columns(
    runs: Sequence[ImageDetections], name_to_cat: dict[str, int]
) -> tuple[list[int], list[int], list[list[float]], list[float]]:
    """Detections as COCO result columns (``[x, y, w, h]``), classes mapped by name; unknown names dropped."""
    img, cat, box, score = [], [], [], []
    for run in runs:
        d = run.detections
        for (x1, y1, x2, y2), s, name in zip(d.boxes, d.scores, d.names, strict=True):
            if name not in name_to_cat:
                continue
            img.append(run.image_id)
            cat.append(name_to_cat[name])
            box.append([float(x1), float(y1), float(x2 - x1), float(y2 - y1)])
            score.append(float(s))
    return img, cat, box, score


def ground_truth(coco: CocoFolder, categories: dict[int, str]) -> DetectionGroundTruth:
    anns = [a for a in coco.data.get("annotations", []) if int(a["category_id"]) in categories]
    return DetectionGroundTruth.create(
        image_ids=[int(a["image_id"]) for a in anns],
        category_ids=[int(a["category_id"]) for a in anns],
        boxes=np.asarray([a["bbox"] for a in anns], np.float64).reshape(-1, 4),
        iscrowd=[bool(a.get("iscrowd", 0)) for a in anns],
        areas=[float(a.get("area", a["bbox"][2] * a["bbox"][3])) for a in anns],
    )


def matched_flags(
    coco: CocoFolder,
    columns: tuple[list[int], list[int], list[list[float]], list[float]],
    categories: set[int],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], int]:
    """``(scores, is_tp, positives)``: greedy matching at IoU 0.5 per image and class, best score first;
    a detection matching only a crowd region is dropped (neither TP nor FP)."""
    img, cat, box, score = (np.asarray(c) for c in columns)
    by_image = coco.annotations_by_image()
    keep_scores: list[float] = []
    flags: list[bool] = []
    positives = 0
    for anns in by_image.values():
        positives += sum(1 for a in anns if int(a["category_id"]) in categories and not a.get("iscrowd", 0))
    for key in sorted({(int(i), int(c)) for i, c in zip(img, cat, strict=True)}):
        rows = np.flatnonzero((img == key[0]) & (cat == key[1]))
        rows = rows[np.argsort(-score[rows], kind="stable")]
        anns = [a for a in by_image.get(key[0], []) if int(a["category_id"]) == key[1]]
        gt = np.asarray([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
        crowd = np.asarray([bool(a.get("iscrowd", 0)) for a in anns], bool)
        gt_xyxy = np.c_[gt[:, :2], gt[:, :2] + gt[:, 2:]]
        dt = np.asarray(box[rows], np.float64).reshape(-1, 4)
        ious = (
            iou_matrix(np.c_[dt[:, :2], dt[:, :2] + dt[:, 2:]], gt_xyxy)
            if len(gt)
            else np.zeros((len(dt), 0))
        )
        used = np.zeros(len(gt), bool)
        for r, row in enumerate(rows):
            cand = np.where(~used & ~crowd, ious[r], -1.0)
            j = int(np.argmax(cand)) if len(gt) else -1
            if j >= 0 and cand[j] >= MATCH_IOU:
                used[j] = True
                keep_scores.append(float(score[row]))
                flags.append(True)
            elif len(gt) and np.any(crowd & (ious[r] >= MATCH_IOU)):
                continue
            else:
                keep_scores.append(float(score[row]))
                flags.append(False)
    return np.asarray(keep_scores), np.asarray(flags, bool), positives


def operating_point(curve: PRCurve, threshold: float) -> tuple[float | None, float | None]:
    """Precision and recall when keeping scores ``>= threshold``."""
    ok = np.flatnonzero(curve.thresholds >= threshold - 1e-12)
    if not len(ok):
        return None, 0.0
    i = int(ok[-1])
    return float(curve.precision[i]), float(curve.recall[i])


def pycocotools_stats(
    coco: CocoFolder, columns: tuple[list[int], list[int], list[list[float]], list[float]], cat_ids: list[int]
) -> list[float]:
    """COCOeval's 12 bbox stats on the same detections (restricted to ``cat_ids``)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {k: v for k, v in coco.data.items() if k in ("images", "annotations", "categories")}
        gt.createIndex()
        results = [
            {"image_id": i, "category_id": c, "bbox": b, "score": s}
            for i, c, b, s in zip(*columns, strict=True)
        ]
        dt = gt.loadRes(results) if results else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def evaluate_detector(
    detect: Callable[[npt.NDArray[np.uint8]], Detections],
    coco: CocoFolder,
    load: RGBLoader,
    *,
    feature: str,
    model_id: str,
    operating_threshold: float,
    person_label: str = "person",
    target_precision: float = 0.9,
    check_pycocotools: bool = False,
) -> tuple[EvalReport, dict[str, PRCurve]]:
    """``feature`` ``"objects"`` (every category of the file the model can name) or ``"people"`` (``person``)."""
    if feature not in ("objects", "people"):
        raise InvalidArgumentError(f"feature must be 'objects' or 'people', got {feature!r}")
    categories = coco.categories
    if feature == "people":
        categories = {k: v for k, v in categories.items() if v == person_label}
        if not categories:
            raise InvalidArgumentError(f"{coco.annotation_file} has no '{person_label}' category")
    runs = run_detector(detect, coco, load)
    name_to_cat = {v: k for k, v in categories.items()}
    columns = to_columns(runs, name_to_cat)
    image_ids = [int(im["id"]) for im in coco.images]
    gt = ground_truth(coco, categories)
    preds = DetectionPredictions.create(
        image_ids=columns[0], category_ids=columns[1],
        boxes=np.asarray(columns[2], np.float64).reshape(-1, 4), scores=columns[3],
    )  # fmt: skip
    m = evaluate_detection(gt, preds, image_ids=image_ids, categories=categories)
    scores, flags, positives = matched_flags(coco, columns, set(categories))
    curve = pr_curve(scores, flags, positives)
    precision, recall = operating_point(curve, operating_threshold)
    choice = threshold_for_precision(curve, target_precision)
    ms = [r.ms for r in runs]
    metrics: dict[str, float | int | None] = {
        "mAP": m.map50_95,
        "AP50": m.map50,
        "AP75": m.map75,
        "precision": precision,
        "recall": recall,
        "operating_threshold": operating_threshold,
        "ms_per_image": float(np.mean(ms)) if ms else None,
    }
    details: dict[str, Any] = {
        "per_class": [c.to_dict() for c in m.per_class],
        "num_ground_truth": m.num_ground_truth,
        "num_predictions": m.num_predictions,
        "min_score": MIN_SCORE,
    }
    if check_pycocotools:
        stats = pycocotools_stats(coco, columns, sorted(categories))
        ours = [m.map50_95, m.map50, m.map75]
        diff = max(abs((o if o is not None else -1.0) - s) for o, s in zip(ours, stats[:3], strict=True))
        metrics["pycocotools_mAP"] = stats[0]
        metrics["pycocotools_max_abs_diff"] = diff
    report = EvalReport(
        feature=feature, model=model_id, data=str(coco.root), n=len(image_ids), metrics=metrics,
        threshold=choice.to_dict(), details=details,
    )  # fmt: skip
    return report, {f"{feature} IoU {MATCH_IOU}": curve}
