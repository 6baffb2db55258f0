"""Evaluation metrics for custom classifiers and detectors: numpy only, usable on their own.

* :mod:`.detection`: COCO mAP@[.50:.95], mAP@.30/.50/.75 and per-class AP, equal to pycocotools' COCOeval
  (the algorithm itself is in :mod:`.cocoeval`);
* :mod:`.classification`: top-k accuracy, per-class precision/recall/F1/AP, confusion matrix, ECE;
* :mod:`.coco_json`: both from COCO-style JSON, with errors that name the entry and field.

The names below are the public API; import them from here.
"""

from __future__ import annotations

from imagelens.calibration import CalibrationBin
from imagelens.customize.metrics.classification import (
    ECE_BINS,
    ClassificationMetrics,
    ClassMetrics,
    average_precision,
    evaluate_classification,
)
from imagelens.customize.metrics.coco_json import (
    classification_inputs_from_coco,
    detection_inputs_from_coco,
    evaluate_coco_classification,
    evaluate_coco_detection,
)
from imagelens.customize.metrics.cocoeval import (
    AREA_RANGE_ALL,
    COCO_IOU_THRESHOLDS,
    COCO_RECALL_THRESHOLDS,
    coco_box_iou,
)
from imagelens.customize.metrics.detection import (
    IOU_30,
    DetectionClassMetrics,
    DetectionGroundTruth,
    DetectionMetrics,
    DetectionPredictions,
    evaluate_detection,
)

__all__ = [
    "AREA_RANGE_ALL",
    "COCO_IOU_THRESHOLDS",
    "COCO_RECALL_THRESHOLDS",
    "ECE_BINS",
    "IOU_30",
    "CalibrationBin",
    "ClassMetrics",
    "ClassificationMetrics",
    "DetectionClassMetrics",
    "DetectionGroundTruth",
    "DetectionMetrics",
    "DetectionPredictions",
    "average_precision",
    "classification_inputs_from_coco",
    "coco_box_iou",
    "detection_inputs_from_coco",
    "evaluate_classification",
    "evaluate_coco_classification",
    "evaluate_coco_detection",
    "evaluate_detection",
]
