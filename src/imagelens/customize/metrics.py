"""Evaluation metrics for custom classifiers and detectors: numpy only, usable on their own.

Detection follows pycocotools' ``COCOeval`` (bbox, area range "all", ``maxDets=100``) step by step, so that the
numbers equal COCOeval's on the same input: the same IoU formula (crowd boxes use the detection's area as the
union), the same greedy matching (highest score first, ties in score keep input order, ties in IoU go to the
later ground-truth box, crowd and ignored boxes last), the same 101-point interpolated precision and the same mean
over the categories that have non-crowd ground truth. mAP at IoU 0.30 runs the same algorithm at that threshold.
Two deliberate differences, both where COCOeval has no defined answer: a mean over no category is ``None`` (COCOeval
prints -1), and a ground-truth annotation whose id is 0 still counts as matched (COCOeval stores matches as ids and
treats id 0 as "unmatched").

Classification: top-k accuracy, per-class precision/recall/F1, confusion matrix, one-vs-rest average precision per
class (the step-wise sum used by scikit-learn, no interpolation), and expected calibration error on the top-1
confidence in 15 equal-width bins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Bit-identical to pycocotools' Params: a match needs IoU >= threshold, so the exact floats matter at ties.
COCO_IOU_THRESHOLDS: FloatArray = np.linspace(
    0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True
)
COCO_RECALL_THRESHOLDS: FloatArray = np.linspace(
    0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True
)
AREA_RANGE_ALL = (0.0, 1e5**2)
IOU_30 = 0.3
ECE_BINS = 15


# --- detection: inputs -----------------------------------------------------------------------------------------


def _int_column(values: npt.ArrayLike, what: str, n: int | None = None) -> IntArray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise InvalidArgumentError(
            f"{what} must be a 1-D sequence of integers, got dtype {arr.dtype} shape {arr.shape}"
        )
    if n is not None and len(arr) != n:
        raise InvalidArgumentError(f"{what} must have {n} entries (one per box), got {len(arr)}")
    return arr.astype(np.int64)


def _float_column(values: npt.ArrayLike | None, what: str, n: int, default: float | FloatArray) -> FloatArray:
    if values is None:
        return np.broadcast_to(np.asarray(default, dtype=np.float64), (n,)).copy()
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(arr) != n:
        raise InvalidArgumentError(f"{what} must have {n} entries (one per box), got {len(arr)}")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(
            f"{what} must be finite numbers, got {arr[~np.isfinite(arr)][:3].tolist()}"
        )
    return arr


def _boxes(values: npt.ArrayLike, what: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InvalidArgumentError(f"{what} must have shape (N, 4) as [x, y, width, height], got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{what} must be finite numbers")
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class DetectionGroundTruth:
    """Ground-truth boxes, one row each, ``[x, y, width, height]`` in any consistent unit (pixels usually).

    ``areas`` defaults to ``width * height``; COCO files carry their own ``area`` (used only for the area range,
    so it matters for boxes above 1e10). ``ids`` only matter for duplicates in reports; they default to 1..N.
    """

    image_ids: IntArray
    category_ids: IntArray
    boxes: FloatArray
    iscrowd: BoolArray
    areas: FloatArray

    @classmethod
    def create(
        cls,
        image_ids: npt.ArrayLike,
        category_ids: npt.ArrayLike,
        boxes: npt.ArrayLike,
        iscrowd: npt.ArrayLike | None = None,
        areas: npt.ArrayLike | None = None,
    ) -> DetectionGroundTruth:
        b = _boxes(boxes, "ground-truth boxes")
        n = len(b)
        crowd = np.zeros(n, dtype=bool) if iscrowd is None else np.asarray(iscrowd).astype(bool).reshape(-1)
        if len(crowd) != n:
            raise InvalidArgumentError(f"iscrowd must have {n} entries (one per box), got {len(crowd)}")
        return cls(
            image_ids=_int_column(image_ids, "ground-truth image ids", n),
            category_ids=_int_column(category_ids, "ground-truth category ids", n),
            boxes=b,
            iscrowd=crowd,
            areas=_float_column(areas, "ground-truth areas", n, b[:, 2] * b[:, 3]),
        )

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True, slots=True, eq=False)
class DetectionPredictions:
    """Predicted boxes ``[x, y, width, height]`` with a confidence each (COCO's results format, as columns)."""

    image_ids: IntArray
    category_ids: IntArray
    boxes: FloatArray
    scores: FloatArray

    @classmethod
    def create(
        cls,
        image_ids: npt.ArrayLike,
        category_ids: npt.ArrayLike,
        boxes: npt.ArrayLike,
        scores: npt.ArrayLike,
    ) -> DetectionPredictions:
        b = _boxes(boxes, "predicted boxes")
        n = len(b)
        return cls(
            image_ids=_int_column(image_ids, "predicted image ids", n),
            category_ids=_int_column(category_ids, "predicted category ids", n),
            boxes=b,
            scores=_float_column(scores, "prediction scores", n, 0.0) if n else np.zeros(0),
        )

    def __len__(self) -> int:
        return len(self.boxes)


# --- detection: results ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DetectionClassMetrics:
    """One category. ``None`` where the category has no non-crowd ground truth (COCOeval leaves it out)."""

    category_id: int
    name: str
    num_ground_truth: int
    num_predictions: int
    ap50_95: float | None
    ap30: float | None
    ap50: float | None
    ap75: float | None
    recall50: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category_id": self.category_id,
            "name": self.name,
            "num_ground_truth": self.num_ground_truth,
            "num_predictions": self.num_predictions,
            "ap50_95": self.ap50_95,
            "ap30": self.ap30,
            "ap50": self.ap50,
            "ap75": self.ap75,
            "recall50": self.recall50,
        }


@dataclass(frozen=True, slots=True, eq=False)
class DetectionMetrics:
    """COCO-style detection metrics.

    ``precision`` has shape (T, 101, K): interpolated precision at each IoU threshold in ``iou_thresholds`` and each
    recall threshold in :data:`COCO_RECALL_THRESHOLDS`, -1 for categories without ground truth (as COCOeval).
    ``recall`` has shape (T, K): the recall reached with up to ``max_detections`` boxes per image.
    """

    map50_95: float | None
    map30: float | None
    map50: float | None
    map75: float | None
    per_class: tuple[DetectionClassMetrics, ...]
    iou_thresholds: tuple[float, ...]
    precision: FloatArray
    recall: FloatArray
    num_images: int
    num_ground_truth: int
    num_predictions: int
    ignored_predictions: int
    max_detections: int

    def iou_index(self, iou: float) -> int:
        for i, t in enumerate(self.iou_thresholds):
            if abs(t - iou) < 1e-9:
                return i
        raise InvalidArgumentError(
            f"IoU threshold {iou} was not evaluated; evaluated: {list(self.iou_thresholds)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "map50_95": self.map50_95,
            "map30": self.map30,
            "map50": self.map50,
            "map75": self.map75,
            "num_images": self.num_images,
            "num_ground_truth": self.num_ground_truth,
            "num_predictions": self.num_predictions,
            "ignored_predictions": self.ignored_predictions,
            "max_detections": self.max_detections,
            "per_class": [c.to_dict() for c in self.per_class],
        }


# --- detection: the COCOeval algorithm ------------------------------------------------------------------------


def coco_box_iou(dt: FloatArray, gt: FloatArray, gt_crowd: BoolArray) -> FloatArray:
    """IoU matrix (len(dt), len(gt)) with pycocotools' arithmetic, ``[x, y, w, h]`` boxes.

    Kept here rather than in geometry.py because it is COCO's variant: for a crowd ground-truth box the union is
    the detection's own area. Written operation for operation like pycocotools' C ``bbIou`` so that IoUs that land
    exactly on a threshold compare the same way.
    """
    if len(dt) == 0 or len(gt) == 0:
        return np.zeros((len(dt), len(gt)), dtype=np.float64)
    dx, dy, dw, dh = (dt[:, i : i + 1] for i in range(4))
    gx, gy, gw, gh = (gt[None, :, i] for i in range(4))
    da = dw * dh
    ga = gw * gh
    iw = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    ih = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = iw * ih
    union = np.where(gt_crowd[None, :], da, da + ga - inter)
    ok = (iw > 0) & (ih > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(ok, inter / np.where(ok, union, 1.0), 0.0)
    return out


def _last_argmax(values: FloatArray) -> IntArray:
    """Index of the last maximum in each row (COCOeval moves its match on ``>=``, so later ties win)."""
    g = values.shape[1]
    return (g - 1 - np.argmax(values[:, ::-1], axis=1)).astype(np.int64)


def _match_image(
    dt_boxes: FloatArray,
    dt_scores: FloatArray,
    gt_boxes: FloatArray,
    gt_crowd: BoolArray,
    gt_area: FloatArray,
    thresholds: FloatArray,
    max_detections: int,
) -> tuple[FloatArray, BoolArray, BoolArray, BoolArray]:
    """COCOeval.evaluateImg for one (image, category): scores, matched (T, D), ignored (T, D), gt ignored (G,)."""
    lo, hi = AREA_RANGE_ALL
    gt_ignore = gt_crowd | (gt_area < lo) | (gt_area > hi)
    g_order = np.argsort(gt_ignore, kind="stable")  # regular boxes first, ignored last
    gt_ignore = gt_ignore[g_order]
    crowd = gt_crowd[g_order]
    d_order = np.argsort(-dt_scores, kind="stable")[:max_detections]
    dt_boxes = dt_boxes[d_order]
    scores = dt_scores[d_order]
    n_t, n_d, n_g = len(thresholds), len(dt_boxes), len(g_order)
    dt_matched = np.zeros((n_t, n_d), dtype=bool)
    dt_ignore = np.zeros((n_t, n_d), dtype=bool)
    if n_d and n_g:
        ious = coco_box_iou(dt_boxes, gt_boxes[g_order], crowd)
        gt_taken = np.zeros((n_t, n_g), dtype=bool)
        floor = np.minimum(thresholds, 1 - 1e-10)[:, None]
        regular = ~gt_ignore
        rows = np.arange(n_t)
        for d in range(n_d):
            row = ious[d][None, :]
            ok = (~gt_taken | crowd[None, :]) & (row >= floor)
            ok_regular = ok & regular[None, :]
            ok_ignored = ok & gt_ignore[None, :]
            has_regular = ok_regular.any(axis=1)
            has_ignored = ok_ignored.any(axis=1)
            if not (has_regular.any() or has_ignored.any()):
                continue
            pick_regular = _last_argmax(np.where(ok_regular, row, -1.0))
            pick_ignored = _last_argmax(np.where(ok_ignored, row, -1.0))
            m = np.where(has_regular, pick_regular, np.where(has_ignored, pick_ignored, -1))
            hit = m >= 0
            dt_matched[hit, d] = True
            dt_ignore[hit, d] = gt_ignore[m[hit]]
            gt_taken[rows[hit], m[hit]] = True
    dt_area = dt_boxes[:, 2] * dt_boxes[:, 3]
    outside = (dt_area < lo) | (dt_area > hi)
    dt_ignore |= ~dt_matched & outside[None, :]
    return scores, dt_matched, dt_ignore, gt_ignore


def _accumulate(
    per_image: Sequence[tuple[FloatArray, BoolArray, BoolArray, BoolArray]], n_t: int
) -> tuple[FloatArray, FloatArray, int]:
    """COCOeval.accumulate for one category: precision (T, R), recall (T,), number of non-ignored ground truths."""
    n_r = len(COCO_RECALL_THRESHOLDS)
    precision = -np.ones((n_t, n_r))
    recall = -np.ones(n_t)
    if not per_image:
        return precision, recall, 0
    scores = np.concatenate([e[0] for e in per_image])
    order = np.argsort(-scores, kind="stable")
    matched = np.concatenate([e[1] for e in per_image], axis=1)[:, order]
    ignored = np.concatenate([e[2] for e in per_image], axis=1)[:, order]
    npig = int(np.count_nonzero(~np.concatenate([e[3] for e in per_image])))
    if npig == 0:
        return precision, recall, 0
    tp_sum = np.cumsum(matched & ~ignored, axis=1).astype(float)
    fp_sum = np.cumsum(~matched & ~ignored, axis=1).astype(float)
    nd = tp_sum.shape[1]
    for t in range(n_t):
        tp, fp = tp_sum[t], fp_sum[t]
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        recall[t] = rc[-1] if nd else 0.0
        if nd == 0:
            precision[t] = 0.0
            continue
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope, as COCOeval's backward loop
        inds = np.searchsorted(rc, COCO_RECALL_THRESHOLDS, side="left")
        precision[t] = np.where(inds < nd, pr[np.minimum(inds, nd - 1)], 0.0)
    return precision, recall, npig


def _group_rows(image_ids: IntArray, category_ids: IntArray) -> dict[tuple[int, int], IntArray]:
    """Row indices per (image, category), each in input order (COCOeval keeps file order within a group)."""
    if len(image_ids) == 0:
        return {}
    order = np.lexsort((np.arange(len(image_ids)), image_ids, category_ids))
    keys = np.stack([category_ids[order], image_ids[order]], axis=1)
    cuts = np.flatnonzero(np.any(np.diff(keys, axis=0) != 0, axis=1)) + 1
    out: dict[tuple[int, int], IntArray] = {}
    for chunk in np.split(order, cuts):
        out[(int(image_ids[chunk[0]]), int(category_ids[chunk[0]]))] = chunk
    return out


def _mean_valid(values: FloatArray) -> float | None:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else None


def evaluate_detection(
    ground_truth: DetectionGroundTruth,
    predictions: DetectionPredictions,
    *,
    image_ids: Sequence[int] | None = None,
    categories: Mapping[int, str] | Sequence[int] | None = None,
    max_detections: int = 100,
) -> DetectionMetrics:
    """COCO mAP@[.50:.95], mAP@.30/.50/.75 and per-class AP, equal to pycocotools' COCOeval on the same input.

    ``image_ids``: the evaluated images (COCOeval: every image in the ground-truth file, with or without boxes);
    defaults to the images that appear in either input. Predictions on other images are refused, as COCOeval does.
    ``categories``: evaluated category ids (and names); defaults to every id in either input. Predictions of other
    categories are ignored and counted in ``ignored_predictions``.
    """
    if max_detections < 1:
        raise InvalidArgumentError(f"max_detections must be >= 1, got {max_detections}")
    if image_ids is None:
        images = np.unique(np.concatenate([ground_truth.image_ids, predictions.image_ids]))
    else:
        images = np.unique(_int_column(list(image_ids), "image_ids"))
        unknown = np.setdiff1d(np.unique(predictions.image_ids), images)
        if unknown.size:
            raise InvalidArgumentError(
                f"predictions refer to {unknown.size} image id(s) that are not in the ground truth, "
                f"e.g. {unknown[:5].tolist()}; expected ids among the {images.size} ground-truth images"
            )
        unknown_gt = np.setdiff1d(np.unique(ground_truth.image_ids), images)
        if unknown_gt.size:
            raise InvalidArgumentError(
                f"ground-truth boxes refer to image id(s) {unknown_gt[:5].tolist()} that are not in image_ids"
            )
    if categories is None:
        cat_ids = np.unique(np.concatenate([ground_truth.category_ids, predictions.category_ids])).tolist()
        names = {int(c): str(c) for c in cat_ids}
    elif isinstance(categories, Mapping):
        names = {int(k): str(v) for k, v in categories.items()}
        cat_ids = sorted(names)
    else:
        cat_ids = sorted({int(c) for c in categories})
        names = {c: str(c) for c in cat_ids}
    cat_set = set(cat_ids)

    thresholds = np.concatenate([[IOU_30], COCO_IOU_THRESHOLDS])
    gt_groups = _group_rows(ground_truth.image_ids, ground_truth.category_ids)
    dt_groups = _group_rows(predictions.image_ids, predictions.category_ids)
    image_list = [int(i) for i in images]
    empty = np.zeros(0, dtype=np.int64)

    n_t, n_k = len(thresholds), len(cat_ids)
    precision = -np.ones((n_t, len(COCO_RECALL_THRESHOLDS), n_k))
    recall = -np.ones((n_t, n_k))
    per_class: list[DetectionClassMetrics] = []
    for k, cat in enumerate(cat_ids):
        per_image = []
        for img in image_list:
            g = gt_groups.get((img, cat), empty)
            d = dt_groups.get((img, cat), empty)
            if len(g) == 0 and len(d) == 0:
                continue
            per_image.append(
                _match_image(
                    predictions.boxes[d],
                    predictions.scores[d],
                    ground_truth.boxes[g],
                    ground_truth.iscrowd[g],
                    ground_truth.areas[g],
                    thresholds,
                    max_detections,
                )
            )
        precision[:, :, k], recall[:, k], npig = _accumulate(per_image, n_t)
        has_gt = npig > 0
        per_class.append(
            DetectionClassMetrics(
                category_id=int(cat),
                name=names[cat],
                num_ground_truth=npig,
                num_predictions=int(np.count_nonzero(predictions.category_ids == cat)),
                ap50_95=float(np.mean(precision[1:, :, k])) if has_gt else None,
                ap30=float(np.mean(precision[0, :, k])) if has_gt else None,
                ap50=float(np.mean(precision[1, :, k])) if has_gt else None,
                ap75=float(np.mean(precision[6, :, k])) if has_gt else None,
                recall50=float(recall[1, k]) if has_gt else None,
            )
        )
    ignored = (
        int(np.count_nonzero(~np.isin(predictions.category_ids, list(cat_set)))) if len(predictions) else 0
    )
    return DetectionMetrics(
        map50_95=_mean_valid(precision[1:]),
        map30=_mean_valid(precision[0]),
        map50=_mean_valid(precision[1]),
        map75=_mean_valid(precision[6]),
        per_class=tuple(per_class),
        iou_thresholds=tuple(float(t) for t in thresholds),
        precision=precision,
        recall=recall,
        num_images=len(image_list),
        num_ground_truth=len(ground_truth),
        num_predictions=len(predictions),
        ignored_predictions=ignored,
        max_detections=max_detections,
    )


# --- detection: COCO dictionaries ------------------------------------------------------------------------------


def _need(entry: Any, key: str, where: str) -> Any:
    if not isinstance(entry, Mapping):
        raise InvalidArgumentError(f"{where} must be a JSON object, got {type(entry).__name__}")
    if key not in entry:
        raise InvalidArgumentError(f"{where} has no '{key}' field")
    return entry[key]


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{where} must be an integer, got {value!r}")
    return value


def _as_box(value: Any, where: str) -> list[float]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):
        raise InvalidArgumentError(f"{where} must be 4 finite numbers [x, y, width, height], got {value!r}")
    return [float(v) for v in value]


def _as_score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def detection_inputs_from_coco(
    ground_truth: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]]
) -> tuple[DetectionGroundTruth, DetectionPredictions, list[int], dict[int, str]]:
    """Columns from a COCO ground-truth dict and a COCO results list ``[{image_id, category_id, bbox, score}]``.

    Returns the ground truth, the predictions, every ground-truth image id and the category names.
    Raises InvalidArgumentError naming the entry and field that is wrong.
    """
    if not isinstance(ground_truth, Mapping):
        raise InvalidArgumentError(
            f"ground truth must be a COCO JSON object, got {type(ground_truth).__name__}"
        )
    images = ground_truth.get("images")
    annotations = ground_truth.get("annotations")
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise InvalidArgumentError("ground truth must have 'images' and 'annotations' lists (COCO format)")
    image_ids = [_as_int(_need(im, "id", f"images[{i}]"), f"images[{i}].id") for i, im in enumerate(images)]
    cats = ground_truth.get("categories")
    names: dict[int, str] = {}
    if isinstance(cats, list):
        for i, c in enumerate(cats):
            cid = _as_int(_need(c, "id", f"categories[{i}]"), f"categories[{i}].id")
            names[cid] = str(c.get("name", cid))
    cols: dict[str, list[Any]] = {"img": [], "cat": [], "box": [], "crowd": [], "area": []}
    for i, ann in enumerate(annotations):
        where = f"annotation {ann.get('id', f'#{i}') if isinstance(ann, Mapping) else f'#{i}'}"
        cols["img"].append(_as_int(_need(ann, "image_id", where), f"{where} field image_id"))
        cols["cat"].append(_as_int(_need(ann, "category_id", where), f"{where} field category_id"))
        box = _as_box(_need(ann, "bbox", where), f"{where} field bbox")
        cols["box"].append(box)
        cols["crowd"].append(bool(ann.get("iscrowd", 0)))
        area = ann.get("area")
        cols["area"].append(box[2] * box[3] if area is None else _as_score(area, f"{where} field area"))
    if not names:  # no categories list: every id seen in the ground truth
        names = {c: str(c) for c in sorted(set(cols["cat"]))}
    gt = DetectionGroundTruth.create(cols["img"], cols["cat"], cols["box"], cols["crowd"], cols["area"])
    if not isinstance(predictions, Sequence) or isinstance(predictions, str | bytes | Mapping):
        raise InvalidArgumentError(
            f"predictions must be a JSON list of {{image_id, category_id, bbox, score}}, got {type(predictions).__name__}"
        )
    p_img, p_cat, p_box, p_score = [], [], [], []
    for i, pred in enumerate(predictions):
        where = f"predictions[{i}]"
        p_img.append(_as_int(_need(pred, "image_id", where), f"{where}.image_id"))
        p_cat.append(_as_int(_need(pred, "category_id", where), f"{where}.category_id"))
        p_box.append(_as_box(_need(pred, "bbox", where), f"{where}.bbox"))
        p_score.append(_as_score(_need(pred, "score", where), f"{where}.score"))
    preds = DetectionPredictions.create(p_img, p_cat, p_box, p_score)
    return gt, preds, image_ids, names


def evaluate_coco_detection(
    ground_truth: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]], *, max_detections: int = 100
) -> DetectionMetrics:
    """:func:`evaluate_detection` on a COCO ground-truth dict and a COCO results list."""
    gt, preds, image_ids, names = detection_inputs_from_coco(ground_truth, predictions)
    return evaluate_detection(gt, preds, image_ids=image_ids, categories=names, max_detections=max_detections)


# --- classification --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """One class. ``average_precision`` is ``None`` when the class has no positive example."""

    index: int
    category_id: int
    name: str
    support: int
    predicted: int
    precision: float
    recall: float
    f1: float
    average_precision: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category_id": self.category_id,
            "name": self.name,
            "support": self.support,
            "predicted": self.predicted,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "average_precision": self.average_precision,
        }


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One bin ``(lower, upper]`` of the reliability diagram (the first bin also holds confidence 0)."""

    lower: float
    upper: float
    count: int
    accuracy: float | None
    confidence: float | None


@dataclass(frozen=True, slots=True, eq=False)
class ClassificationMetrics:
    """Classification metrics. Rows of ``confusion_matrix`` are true classes, columns predicted classes; images
    without any prediction are counted wrong and left out of the matrix (``num_missing_predictions``)."""

    accuracy_top1: float
    accuracy_top5: float
    top_k: int
    per_class: tuple[ClassMetrics, ...]
    confusion_matrix: IntArray
    macro_precision: float
    macro_recall: float
    macro_f1: float
    mean_average_precision: float | None
    calibration_ece: float | None
    calibration_bins: tuple[CalibrationBin, ...]
    pr_curves: tuple[tuple[FloatArray, FloatArray], ...]
    num_images: int
    num_missing_predictions: int

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.per_class]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy_top1": self.accuracy_top1,
            "accuracy_top5": self.accuracy_top5,
            "top_k": self.top_k,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "mean_average_precision": self.mean_average_precision,
            "calibration_ece": self.calibration_ece,
            "num_images": self.num_images,
            "num_missing_predictions": self.num_missing_predictions,
            "per_class": [c.to_dict() for c in self.per_class],
            "confusion_matrix": {"labels": self.class_names, "matrix": self.confusion_matrix.tolist()},
            "calibration_bins": [
                {
                    "lower": b.lower,
                    "upper": b.upper,
                    "count": b.count,
                    "accuracy": b.accuracy,
                    "confidence": b.confidence,
                }
                for b in self.calibration_bins
            ],
        }


def _ranks_of_true(labels: IntArray, scores: FloatArray) -> IntArray:
    """0-based rank of the true class when classes are ordered by score, ties by class index (as argmax)."""
    n, c = scores.shape
    true = scores[np.arange(n), labels]
    idx = np.arange(c)[None, :]
    higher = (scores > true[:, None]) | ((scores == true[:, None]) & (idx < labels[:, None]))
    ranks = higher.sum(axis=1)
    return np.where(np.isneginf(true), c, ranks).astype(np.int64)


def average_precision(positive: BoolArray, scores: FloatArray) -> tuple[float | None, FloatArray, FloatArray]:
    """One-vs-rest AP as ``sum (R_n - R_{n-1}) * P_n`` over distinct score thresholds, highest first.

    Returns (AP or ``None`` without positives, recall curve, precision curve). Equal scores form one threshold,
    so the result does not depend on the order of tied examples.
    """
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0 or len(scores) == 0:
        return None, np.zeros(0), np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], positive[order]
    last_of_tie = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
    tp = np.cumsum(y)[last_of_tie].astype(float)
    fp = (last_of_tie + 1) - tp
    prec = tp / (tp + fp)
    rec = tp / n_pos
    ap = float(np.sum(np.diff(np.r_[0.0, rec]) * prec))
    return ap, rec, prec


def calibration(
    confidence: FloatArray, correct: BoolArray, n_bins: int = ECE_BINS
) -> tuple[float, tuple[CalibrationBin, ...]]:
    """Expected calibration error: ``sum_b (n_b / N) |accuracy_b - confidence_b|`` over equal-width bins.

    Bins are ``(lower, upper]`` as in Guo et al. (2017); confidence 0 goes to the first bin instead of nowhere.
    """
    if n_bins < 1:
        raise InvalidArgumentError(f"n_bins must be >= 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], confidence, side="left")
    n = len(confidence)
    ece = 0.0
    bins: list[CalibrationBin] = []
    for b in range(n_bins):
        mask = which == b
        count = int(np.count_nonzero(mask))
        if count:
            acc = float(np.mean(correct[mask]))
            conf = float(np.mean(confidence[mask]))
            ece += count / n * abs(acc - conf)
            bins.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), count, acc, conf))
        else:
            bins.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), 0, None, None))
    return float(ece), tuple(bins)


def evaluate_classification(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    class_names: Sequence[str] | None = None,
    category_ids: Sequence[int] | None = None,
    top_k: int = 5,
    n_bins: int = ECE_BINS,
) -> ClassificationMetrics:
    """Metrics for single-label classification.

    ``labels``: (N,) true class indices in ``[0, C)``. ``scores``: (N, C) class scores, usually probabilities;
    NaN or -inf marks a class the model did not score (never counted as a hit). The predicted class is the
    highest score, ties going to the lower index. Top-k counts a hit when the true class is among the k best
    (with ``C <= k`` that is every scored true class). ECE needs probabilities: it is ``None`` when a score lies
    outside [0, 1].
    """
    y = np.asarray(labels)
    s = np.array(scores, dtype=np.float64, copy=True)
    if s.ndim != 2:
        raise InvalidArgumentError(f"scores must have shape (N, C), got {s.shape}")
    n, c = s.shape
    if c < 1:
        raise InvalidArgumentError("scores must have at least one class column")
    if y.shape != (n,) or (n and not np.issubdtype(y.dtype, np.integer)):
        raise InvalidArgumentError(
            f"labels must be {n} integer class indices (one per row of scores), got {y.shape}"
        )
    y = y.astype(np.int64)
    if n and (y.min() < 0 or y.max() >= c):
        raise InvalidArgumentError(
            f"labels must be class indices in [0, {c}), got values in [{y.min()}, {y.max()}]"
        )
    if top_k < 1:
        raise InvalidArgumentError(f"top_k must be >= 1, got {top_k}")
    names = [str(i) for i in range(c)] if class_names is None else [str(x) for x in class_names]
    ids = list(range(c)) if category_ids is None else [int(x) for x in category_ids]
    if len(names) != c or len(ids) != c:
        raise InvalidArgumentError(
            f"expected {c} class names and ids (one per score column), got {len(names)}/{len(ids)}"
        )
    s[np.isnan(s)] = -np.inf
    if np.isposinf(s).any():
        raise InvalidArgumentError("scores must not contain +inf")

    scored = np.isfinite(s).any(axis=1) if n else np.zeros(0, dtype=bool)
    pred = np.where(scored, np.argmax(s, axis=1) if n else np.zeros(0, dtype=np.int64), -1)
    ranks = _ranks_of_true(y, s) if n else np.zeros(0, dtype=np.int64)
    acc1 = float(np.mean(ranks < 1)) if n else 0.0
    acc5 = float(np.mean(ranks < top_k)) if n else 0.0

    cm = np.zeros((c, c), dtype=np.int64)
    np.add.at(cm, (y[scored], pred[scored]), 1)
    support = np.bincount(y, minlength=c)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)

    per_class: list[ClassMetrics] = []
    curves: list[tuple[FloatArray, FloatArray]] = []
    aps: list[float] = []
    for k in range(c):
        ap, rec, prec = average_precision(y == k, s[:, k])
        curves.append((rec, prec))
        if ap is not None:
            aps.append(ap)
        per_class.append(
            ClassMetrics(
                index=k,
                category_id=ids[k],
                name=names[k],
                support=int(support[k]),
                predicted=int(predicted[k]),
                precision=float(precision[k]),
                recall=float(recall[k]),
                f1=float(f1[k]),
                average_precision=ap,
            )
        )
    present = support > 0
    finite = s[np.isfinite(s)]
    probabilities = bool(np.all((finite >= 0) & (finite <= 1)))
    ece: float | None = None
    bins: tuple[CalibrationBin, ...] = ()
    if probabilities and n:
        conf = np.where(scored, np.max(np.where(np.isfinite(s), s, 0.0), axis=1), 0.0)
        ece, bins = calibration(conf, pred == y, n_bins)
    return ClassificationMetrics(
        accuracy_top1=acc1,
        accuracy_top5=acc5,
        top_k=top_k,
        per_class=tuple(per_class),
        confusion_matrix=cm,
        macro_precision=float(np.mean(precision[present])) if present.any() else 0.0,
        macro_recall=float(np.mean(recall[present])) if present.any() else 0.0,
        macro_f1=float(np.mean(f1[present])) if present.any() else 0.0,
        mean_average_precision=float(np.mean(aps)) if aps else None,
        calibration_ece=ece,
        calibration_bins=bins,
        pr_curves=tuple(curves),
        num_images=n,
        num_missing_predictions=int(np.count_nonzero(~scored)),
    )


def classification_inputs_from_coco(
    ground_truth: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]]
) -> tuple[IntArray, FloatArray, list[int], list[str]]:
    """Labels and a score matrix from JSON.

    Ground truth: COCO (``images``, ``annotations`` with one ``category_id`` per image, ``categories``); the
    ``categories`` list may be left out, then the classes are the ids seen in the annotations.
    Predictions, either form (may be mixed):
      * ``{"image_id": 3, "scores": {"1": 0.9, "Lime": 0.1}}``: keys are category ids or names;
      * ``{"image_id": 3, "category_id": 1, "score": 0.9}``: one row per (image, class), several rows per image.
    Classes a prediction does not score rank below every scored class. Images without any prediction count as
    wrong. Returns (labels, scores, category ids, category names) with rows in ground-truth image order.
    """
    if not isinstance(ground_truth, Mapping) or not isinstance(ground_truth.get("annotations"), list):
        raise InvalidArgumentError("ground truth must be a JSON object with an 'annotations' list")
    cats = ground_truth.get("categories")
    ids: list[int] = []
    names: list[str] = []
    if isinstance(cats, list) and cats:
        for i, cat in enumerate(cats):
            ids.append(_as_int(_need(cat, "id", f"categories[{i}]"), f"categories[{i}].id"))
            names.append(str(cat.get("name", ids[-1])))
    label_of: dict[int, int] = {}
    for i, ann in enumerate(ground_truth["annotations"]):
        where = f"annotation {ann.get('id', f'#{i}') if isinstance(ann, Mapping) else f'#{i}'}"
        img = _as_int(_need(ann, "image_id", where), f"{where} field image_id")
        cat = _as_int(_need(ann, "category_id", where), f"{where} field category_id")
        if img in label_of and label_of[img] != cat:
            raise InvalidArgumentError(
                f"{where}: image {img} has two categories ({label_of[img]} and {cat}); "
                "classification ground truth needs exactly one category per image"
            )
        label_of[img] = cat
    if not ids:
        ids = sorted(set(label_of.values()))
        names = [str(c) for c in ids]
    column = {cid: k for k, cid in enumerate(ids)}
    by_name = {name: k for k, name in enumerate(names)}
    if len(by_name) != len(names):
        by_name = {}  # duplicate names: only ids can be trusted
    for img, cat in label_of.items():
        if cat not in column:
            raise InvalidArgumentError(
                f"image {img} has category_id {cat}, which is not one of the categories {ids}"
            )
    images = ground_truth.get("images")
    if isinstance(images, list) and images:
        order = [_as_int(_need(im, "id", f"images[{i}]"), f"images[{i}].id") for i, im in enumerate(images)]
        order = [i for i in order if i in label_of]  # unlabelled images cannot be scored
    else:
        order = list(label_of)
    row = {img: r for r, img in enumerate(order)}

    def class_index(key: Any, where: str) -> int:
        if isinstance(key, int) and not isinstance(key, bool) and key in column:
            return column[key]
        if isinstance(key, str):
            text = key.strip()
            if text.lstrip("-").isdigit() and int(text) in column:
                return column[int(text)]
            if text in by_name:
                return by_name[text]
        raise InvalidArgumentError(
            f"{where}: {key!r} is neither a category id {ids} nor a category name {names}"
        )

    s = np.full((len(order), len(ids)), -np.inf)
    seen: set[tuple[int, int]] = set()
    if not isinstance(predictions, Sequence) or isinstance(predictions, str | bytes | Mapping):
        raise InvalidArgumentError(f"predictions must be a JSON list, got {type(predictions).__name__}")
    for i, pred in enumerate(predictions):
        where = f"predictions[{i}]"
        img = _as_int(_need(pred, "image_id", where), f"{where}.image_id")
        if img not in row:
            raise InvalidArgumentError(f"{where}: image_id {img} is not a labelled image of the ground truth")
        if "scores" in pred:
            table = pred["scores"]
            if not isinstance(table, Mapping):
                raise InvalidArgumentError(
                    f"{where}.scores must be an object {{category: score}}, got {table!r}"
                )
            items = [
                (class_index(k, f"{where}.scores"), _as_score(v, f"{where}.scores[{k!r}]"))
                for k, v in table.items()
            ]
        else:
            key = pred.get("category_id", pred.get("category_name"))
            if key is None:
                raise InvalidArgumentError(f"{where} needs 'scores' or 'category_id' and 'score'")
            items = [
                (
                    class_index(key, f"{where}.category_id"),
                    _as_score(_need(pred, "score", where), f"{where}.score"),
                )
            ]
        for k, value in items:
            if (img, k) in seen:
                raise InvalidArgumentError(f"{where}: image {img} has a second score for category {ids[k]}")
            seen.add((img, k))
            s[row[img], k] = value
    labels = np.asarray([column[label_of[img]] for img in order], dtype=np.int64)
    return labels, s, ids, names


def evaluate_coco_classification(
    ground_truth: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]], *, top_k: int = 5
) -> ClassificationMetrics:
    """:func:`evaluate_classification` on JSON ground truth and predictions (see
    :func:`classification_inputs_from_coco` for the accepted shapes)."""
    labels, scores, ids, names = classification_inputs_from_coco(ground_truth, predictions)
    return evaluate_classification(labels, scores, class_names=names, category_ids=ids, top_k=top_k)
