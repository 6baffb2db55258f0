"""Metrics from JSON: COCO ground truth and COCO-results-style predictions, checked field by field.

Every error names the entry and the field that is wrong (``annotation 7 field bbox must be 4 finite numbers ...``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from imagelens.customize.metrics._columns import FloatArray, IntArray
from imagelens.customize.metrics.classification import ClassificationMetrics, evaluate_classification
from imagelens.customize.metrics.detection import (
    DetectionGroundTruth,
    DetectionMetrics,
    DetectionPredictions,
    evaluate_detection,
)
from imagelens.errors import InvalidArgumentError

# --- fields ------------------------------------------------------------------------------------------------------


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


# --- detection ---------------------------------------------------------------------------------------------------


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


# --- classification ----------------------------------------------------------------------------------------------


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
