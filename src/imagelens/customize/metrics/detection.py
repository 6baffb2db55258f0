"""Detection metrics equal to pycocotools' COCOeval: the inputs (columns), the results, :func:`evaluate_detection`.

Detection follows ``COCOeval`` (bbox, area range "all", ``maxDets=100``; see :mod:`.cocoeval`) so that the numbers
equal COCOeval's on the same input; mAP at IoU 0.30 runs the same algorithm at that threshold. Two deliberate
differences, both where COCOeval has no defined answer: a mean over no category is ``None`` (COCOeval prints -1),
and a ground-truth annotation whose id is 0 still counts as matched (COCOeval stores matches as ids and treats id 0
as "unmatched").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.customize.metrics._columns import (
    BoolArray,
    FloatArray,
    IntArray,
    box_column,
    float_column,
    int_column,
)
from imagelens.customize.metrics.cocoeval import (
    COCO_IOU_THRESHOLDS,
    COCO_RECALL_THRESHOLDS,
    accumulate,
    group_rows,
    match_image,
    mean_valid,
)
from imagelens.errors import InvalidArgumentError

IOU_30 = 0.3


# --- inputs ------------------------------------------------------------------------------------------------------


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
        b = box_column(boxes, "ground-truth boxes")
        n = len(b)
        crowd = np.zeros(n, dtype=bool) if iscrowd is None else np.asarray(iscrowd).astype(bool).reshape(-1)
        if len(crowd) != n:
            raise InvalidArgumentError(f"iscrowd must have {n} entries (one per box), got {len(crowd)}")
        return cls(
            image_ids=int_column(image_ids, "ground-truth image ids", n),
            category_ids=int_column(category_ids, "ground-truth category ids", n),
            boxes=b,
            iscrowd=crowd,
            areas=float_column(areas, "ground-truth areas", n, b[:, 2] * b[:, 3]),
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
        b = box_column(boxes, "predicted boxes")
        n = len(b)
        return cls(
            image_ids=int_column(image_ids, "predicted image ids", n),
            category_ids=int_column(category_ids, "predicted category ids", n),
            boxes=b,
            scores=float_column(scores, "prediction scores", n, 0.0) if n else np.zeros(0),
        )

    def __len__(self) -> int:
        return len(self.boxes)


# --- results -----------------------------------------------------------------------------------------------------


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
            "pr_curves": self.pr_curves(),
        }

    def pr_curves(self, iou: float = 0.5) -> list[dict[str, Any]]:
        """Per category with ground truth: the interpolated precision at each COCO recall threshold, at ``iou``
        (the points the AP averages), rounded to 4 places."""
        t = self.iou_index(iou) if iou in self.iou_thresholds else 0
        recall = [round(float(r), 4) for r in COCO_RECALL_THRESHOLDS]
        return [
            {"name": c.name, "iou": self.iou_thresholds[t], "recall": recall,
             "precision": [round(float(p), 4) for p in self.precision[t, :, k]]}
            for k, c in enumerate(self.per_class)
            if self.precision.shape[1] and self.precision[t, 0, k] >= 0
        ]  # fmt: skip


# --- evaluation --------------------------------------------------------------------------------------------------


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
        images = np.unique(int_column(list(image_ids), "image_ids"))
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
    gt_groups = group_rows(ground_truth.image_ids, ground_truth.category_ids)
    dt_groups = group_rows(predictions.image_ids, predictions.category_ids)
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
                match_image(
                    predictions.boxes[d],
                    predictions.scores[d],
                    ground_truth.boxes[g],
                    ground_truth.iscrowd[g],
                    ground_truth.areas[g],
                    thresholds,
                    max_detections,
                )
            )
        precision[:, :, k], recall[:, k], npig = accumulate(per_image, n_t)
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
        map50_95=mean_valid(precision[1:]),
        map30=mean_valid(precision[0]),
        map50=mean_valid(precision[1]),
        map75=mean_valid(precision[6]),
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
