"""Scoring a stored custom model on a dataset.

Used after training (on the validation split or the ``evaluationParameters`` test dataset) and by the evaluation
routes. Classes are matched by name, so a test dataset may number its categories differently from the training one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imagelens.config import Settings
from imagelens.customize.metrics import ClassificationMetrics, DetectionMetrics
from imagelens.customize.records import Dataset
from imagelens.errors import ConflictError
from imagelens.models.hub import ModelHub
from imagelens.store.base import CustomizationStore, ModelRecord

# --- what a job stores ------------------------------------------------------------------------------------------


def metrics_performance(m: ClassificationMetrics | DetectionMetrics) -> dict[str, Any]:
    """A job's ``performance`` as the store keeps it: the metrics' own dictionary and which task they measure
    (``imagelens.azure.customization.model_performance`` turns it into Azure's ``modelPerformance``)."""
    task = "classification" if isinstance(m, ClassificationMetrics) else "detection"
    return {"task": task, **m.to_dict()}


# --- evaluation of a stored model ----------------------------------------------------------------------------------


def evaluate_model(
    hub: ModelHub, store: CustomizationStore, record: ModelRecord, dataset: Dataset, settings: Settings
) -> dict[str, Any]:
    """The performance (:func:`metrics_performance`) of a trained model on ``dataset``; classes are matched by name
    (test classes the model does not know count as misses)."""
    from imagelens.customize import predict

    spec = predict.custom_spec(record, store)
    hub.register(spec)
    adapter = hub.get(spec.id)
    if record.kind == "Generic-Classifier":
        hub.get(adapter.backbone_id)  # every load before inference (the hub's rule)
    with hub.using():
        return _evaluate_loaded(hub, record, adapter, dataset, settings)


def _evaluate_loaded(
    hub: ModelHub, record: ModelRecord, adapter: Any, dataset: Dataset, settings: Settings
) -> dict[str, Any]:
    from imagelens.customize import predict
    from imagelens.customize.metrics import (
        DetectionGroundTruth,
        DetectionPredictions,
        evaluate_classification,
        evaluate_detection,
    )
    from imagelens.customize.sources import load_rgb

    names = {c.id: c.name for c in dataset.categories}
    if record.kind == "Generic-Classifier":
        if dataset.kind != "classification":
            raise ConflictError("a classifier is evaluated on an imageClassification dataset")
        labels_by_image = dataset.image_labels()
        images = [im for im in dataset.images if im.id in labels_by_image]
        model_classes = list(adapter.class_names)
        extra = [
            n for n in dict.fromkeys(names[labels_by_image[im.id]] for im in images) if n not in model_classes
        ]
        columns = model_classes + extra
        probs = np.full((len(images), len(columns)), np.nan)
        for start in range(0, len(images), 16):
            chunk = images[start : start + 16]
            p = predict.classifier_probabilities(hub, adapter, [load_rgb(im, settings) for im in chunk])
            probs[start : start + len(chunk), : len(model_classes)] = p
        y = np.asarray([columns.index(names[labels_by_image[im.id]]) for im in images], np.int64)
        return metrics_performance(evaluate_classification(y, probs, class_names=columns))
    if dataset.kind != "detection":
        raise ConflictError("a detector is evaluated on an imageObjectDetection dataset")
    by_name = {n: cid for cid, n in names.items()}
    gt_rows = [a for a in dataset.annotations if a.bbox is not None]
    gt = DetectionGroundTruth.create(
        [a.image_id for a in gt_rows], [a.category_id for a in gt_rows],
        np.asarray([a.bbox for a in gt_rows], np.float64).reshape(-1, 4), [a.iscrowd for a in gt_rows],
    )  # fmt: skip
    ids: list[int] = []
    cats: list[int] = []
    boxes: list[list[float]] = []
    scores: list[float] = []
    for im in dataset.images:
        det = adapter.detect(load_rgb(im, settings), 0.0)
        for box, score, label in zip(det.boxes, det.scores, det.class_ids, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            ids.append(im.id)
            cats.append(by_name.get(det.class_names[int(label)], -1 - int(label)))
            boxes.append([x1, y1, x2 - x1, y2 - y1])
            scores.append(float(score))
    preds = DetectionPredictions.create(ids, cats, np.asarray(boxes).reshape(-1, 4), scores)
    metrics = evaluate_detection(gt, preds, image_ids=[im.id for im in dataset.images], categories=names)
    return metrics_performance(metrics)
