"""Azure's model-customization JSON (``imagelens.azure.customization``): built from neutral records, no web framework."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from imagelens.azure.customization import model_json, model_performance, model_request
from imagelens.customize.evaluate import metrics_performance
from imagelens.customize.job_state import new_model_record
from imagelens.customize.metrics import evaluate_classification, evaluate_coco_detection
from imagelens.errors import InvalidArgumentError


def test_classification_performance_in_azure_names() -> None:
    m = evaluate_classification([0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], class_names=["a", "b"])
    stored = metrics_performance(m)
    assert (
        stored["task"] == "classification" and "accuracyTop1" not in stored
    )  # the store keeps neutral names
    assert model_performance(stored) == {
        "accuracyTop1": m.accuracy_top1,
        "accuracyTop5": m.accuracy_top5,
        "averagePrecision": m.mean_average_precision,
        "calibrationECE": m.calibration_ece,
        "tagPerformance": {
            "a": {"accuracy": 1.0, "averagePrecision": m.per_class[0].average_precision},
            "b": {"accuracy": 0.5, "averagePrecision": m.per_class[1].average_precision},
        },
    }


def test_detection_performance_in_azure_names() -> None:
    gt = {
        "images": [{"id": 1}],
        "categories": [{"id": 1, "name": "cell"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}],
    }
    m = evaluate_coco_detection(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}])
    assert model_performance(metrics_performance(m)) == {
        "meanAveragePrecision30": m.map30,
        "meanAveragePrecision50": m.map50,
        "meanAveragePrecision75": m.map75,
        "tagPerformance": {"cell": {"averagePrecision50": m.per_class[0].ap50, "accuracy": 1.0}},
    }
    assert m.map50 == pytest.approx(1.0)


def test_a_performance_stored_in_azure_names_by_an_earlier_version_is_shown_as_is() -> None:
    legacy = {"accuracyTop1": 0.9, "tagPerformance": {}}
    assert model_performance(legacy) == legacy
    record = replace(
        new_model_record("m", "Generic-Classifier", "d", 1.0), performance=legacy, status="succeeded"
    )
    body = model_json(record)
    assert (
        body["modelPerformance"] == legacy and body["trainingParameters"]["modelKind"] == "Generic-Classifier"
    )


def test_model_request_matches_keys_case_insensitively() -> None:
    body = {
        "trainingparameters": {
            "TrainingDatasetName": "train",
            "TimeBudgetInMinutes": 30,
            "ModelKind": "Generic-Detector",
        },
        "evaluationparameters": {"TestDatasetName": "test"},
    }
    wanted = model_request(body)
    assert (wanted.kind, wanted.dataset_name, wanted.test_dataset_name) == (
        "Generic-Detector",
        "train",
        "test",
    )
    assert wanted.time_budget_hours == pytest.approx(0.5)
    with pytest.raises(InvalidArgumentError, match="Product-Recognition is not supported"):
        model_request(
            {"trainingparameters": {**body["trainingparameters"], "ModelKind": "Product-Recognition"}}
        )


def test_the_azure_package_imports_no_web_framework() -> None:
    code = (
        "import sys, imagelens.azure.customization\n"
        "print(','.join(m for m in ('fastapi', 'starlette', 'imagelens.api', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
