"""Azure's model-customization routes and ``model-name=`` analysis, on a fresh app per test (tiny random models)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from imagelens.api.app import create_app
from imagelens.api.routes import customization
from imagelens.config import Settings
from imagelens.customize.job_state import new_model_record
from imagelens.models.spec import ModelSpec, PackageSource, Role
from imagelens.store import open_store
from imagelens.testing.tiny.rtdetr import write_custom

from ..customize.test_training_data import (
    COLOURS,
    colour_image,
    make_settings,
    write_classification,
    write_detection,
)
from .test_routes import assert_azure_error, assert_resource_not_found

V = "api-version=2023-02-01-preview"
ANALYZE = "/computervision/imageanalysis:analyze"
OCTET = {"content-type": "application/octet-stream"}


def _app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    if not any(getattr(r, "path", "") == "/computervision/datasets/{name}" for r in app.routes):
        app.include_router(customization.router, prefix="/computervision")  # until create_app mounts it
    return app


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    """Jobs in threads set torch's (process-wide) thread count; give the other tests theirs back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def settings(tiny_model_dir: Path, tmp_path: Path) -> Settings:
    return make_settings(tiny_model_dir, tmp_path)  # type: ignore[return-value]


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    app = _app(settings)
    yield TestClient(app)
    customization.stop(app)


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _poll(client: TestClient, path: str, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get(f"{path}?{V}").json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def test_dataset_lifecycle_with_pascal_case_keys(client: TestClient, settings: Settings) -> None:
    assert settings.data_dir is not None
    coco = write_classification(settings.data_dir / "colours", per_class=2)
    body = {
        "AnnotationKind": "imageClassification",
        "AnnotationFileUris": [coco.as_uri()],
    }  # as the sample client
    r = client.put(f"/computervision/datasets/colours?{V}", json=body)
    assert r.status_code == 200, r.text
    created = r.json()
    assert created["name"] == "colours" and created["annotationKind"] == "imageClassification"
    assert created["annotationFileUris"] == [coco.as_uri()]
    assert created["createdDateTime"].endswith("Z") and created["eTag"]
    assert client.get(f"/computervision/datasets/colours?{V}").json() == created
    assert [d["name"] for d in client.get(f"/computervision/datasets?{V}").json()] == ["colours"]
    assert_azure_error(client.put(f"/computervision/datasets/colours?{V}", json=body), 409, "Conflict")
    r = client.patch(f"/computervision/datasets/colours?{V}", json={"customProperties": {"team": "qa"}})
    assert r.status_code == 200 and r.json()["customProperties"] == {"team": "qa"}
    assert r.json()["annotationFileUris"] == [coco.as_uri()]
    assert client.delete(f"/computervision/datasets/colours?{V}").status_code == 204
    assert_azure_error(client.get(f"/computervision/datasets/colours?{V}"), 404, "NotFound")
    assert_azure_error(client.delete(f"/computervision/datasets/colours?{V}"), 404, "NotFound")


@pytest.mark.parametrize(
    ("path", "body", "status", "inner"),
    [
        ("datasets/d?" + V, {"annotationKind": "imageSegmentation", "annotationFileUris": ["a.json"]}, 400, "BadArgument"),
        ("datasets/d?" + V, {"annotationKind": "imageClassification", "annotationFileUris": []}, 400, "BadArgument"),
        ("datasets/d?" + V, {"annotationKind": "imageClassification", "annotationFileUris": ["/etc/passwd"]}, 400,
         "BadArgument"),
        ("datasets/d?" + V, {"annotationKind": "imageClassification", "annotationFileUris": ["../outside.json"]}, 400,
         "BadArgument"),
        ("datasets/d?" + V, {"annotationKind": "imageClassification", "annotationFileUris": ["ftp://h/a.json"]}, 400,
         "BadArgument"),
        ("datasets/d?" + V, {"annotationKind": "imageClassification", "annotationFileUris": ["missing.json"]}, 400,
         "BadArgument"),
        ("datasets/bad%20name?" + V, {"annotationKind": "imageClassification", "annotationFileUris": ["a"]}, 400,
         "BadArgument"),
        ("datasets/d", {"annotationKind": "imageClassification", "annotationFileUris": ["a"]}, 400, "InvalidRequest"),
        ("models/m?" + V, {"trainingParameters": {"trainingDatasetName": "nope", "timeBudgetInHours": 1,
                                                  "modelKind": "Generic-Classifier"}}, 404, "NotFound"),
        ("models/m?" + V, {"trainingParameters": {"trainingDatasetName": "nope", "timeBudgetInHours": 1,
                                                  "modelKind": "Generic-Segmenter"}}, 400, "BadArgument"),
        ("models/m?" + V, {"trainingParameters": {"trainingDatasetName": "nope", "timeBudgetInHours": 0,
                                                  "modelKind": "Generic-Detector"}}, 400, "BadArgument"),
        ("models/m?" + V, {"trainingParameters": {"timeBudgetInHours": 1, "modelKind": "Generic-Detector"}}, 400,
         "BadArgument"),
    ],
)  # fmt: skip
def test_bad_requests_have_azure_error_bodies(
    client: TestClient, settings: Settings, path: str, body: dict, status: int, inner: str
) -> None:
    assert settings.data_dir is not None
    (settings.data_dir.parent / "outside.json").write_text("{}")  # exists, but outside the data folder
    assert_azure_error(client.put(f"/computervision/{path}", json=body), status, inner)


def test_local_files_need_a_data_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(tiny_model_dir, tmp_path).model_copy(update={"data_dir": None})  # type: ignore[attr-defined]
    coco = write_classification(tmp_path / "anywhere", per_class=2)
    body = {"annotationKind": "imageClassification", "annotationFileUris": [str(coco)]}
    r = TestClient(_app(settings)).put(f"/computervision/datasets/d?{V}", json=body)
    assert "IMAGELENS_DATA_DIR" in assert_azure_error(r, 400, "BadArgument")["error"]["message"]


def test_a_model_needs_a_dataset_of_its_kind_and_a_new_name(client: TestClient, settings: Settings) -> None:
    assert settings.data_dir is not None
    coco = write_detection(settings.data_dir / "boxes", count=4)
    dataset = {
        "annotationKind": "imageObjectDetection",
        "annotationFileUris": [str(coco.relative_to(settings.data_dir))],
    }
    assert client.put(f"/computervision/datasets/boxes?{V}", json=dataset).status_code == 200
    wrong = {
        "trainingParameters": {
            "trainingDatasetName": "boxes",
            "timeBudgetInHours": 1,
            "modelKind": "Generic-Classifier",
        }
    }
    assert (
        "imageClassification"
        in assert_azure_error(client.put(f"/computervision/models/m?{V}", json=wrong), 400, "BadArgument")[
            "error"
        ]["message"]
    )
    store = open_store(settings)
    store.create_model(new_model_record("taken", "Generic-Detector", "boxes", 1.0))
    right = {
        "trainingParameters": {
            "trainingDatasetName": "boxes",
            "timeBudgetInHours": 1,
            "modelKind": "Generic-Detector",
        }
    }
    assert_azure_error(client.put(f"/computervision/models/taken?{V}", json=right), 409, "Conflict")
    assert_azure_error(client.get(f"/computervision/models/absent?{V}"), 404, "NotFound")
    assert_azure_error(client.post(f"/computervision/models/absent:cancel?{V}"), 404, "NotFound")
    assert_azure_error(client.delete(f"/computervision/models/absent?{V}"), 404, "NotFound")


def test_train_predict_evaluate_and_delete_a_classifier(client: TestClient, settings: Settings) -> None:
    assert settings.data_dir is not None
    for name, seed in (("train", 0), ("test", 7)):
        coco = write_classification(settings.data_dir, per_class=3, seed=seed, name=f"{name}.json")
        body = {"annotationKind": "imageClassification", "annotationFileUris": [f"{name}.json"]}
        assert client.put(f"/computervision/datasets/{name}?{V}", json=body).status_code == 200, coco
    body = {
        "trainingParameters": {
            "trainingDatasetName": "train",
            "timeBudgetInHours": 1,
            "modelKind": "Generic-Classifier",
        }
    }
    r = client.put(f"/computervision/models/colours?{V}", json=body)
    assert r.status_code == 200, r.text
    assert (
        r.json()["status"] in ("notStarted", "training")
        and r.json()["trainingParameters"] == body["trainingParameters"]
    )
    model = _poll(client, "/computervision/models/colours")
    assert model["status"] == "succeeded", model
    perf = model["modelPerformance"]
    assert {"accuracyTop1", "accuracyTop5", "averagePrecision", "calibrationECE", "tagPerformance"} <= set(
        perf
    )
    assert model["trainingCostInMinutes"] >= 0 and "error" not in model
    assert_azure_error(client.post(f"/computervision/models/colours:cancel?{V}"), 409, "Conflict")

    image = _png(colour_image(COLOURS["blue"], np.random.default_rng(4)))
    r = client.post(f"{ANALYZE}?{V}&model-name=colours", content=image, headers=OCTET)
    assert r.status_code == 200, r.text
    result = r.json()
    assert set(result) == {"modelVersion", "metadata", "customModelResult"}
    assert result["metadata"] == {"width": 64, "height": 64}
    tags = result["customModelResult"]["tagsResult"]["values"]
    assert [t["name"] for t in tags][0] == "blue" and {t["name"] for t in tags} == set(COLOURS)
    assert all(set(t) == {"name", "confidence"} for t in tags)
    assert result["customModelResult"]["objectsResult"] == {"values": []}
    r = client.post(f"{ANALYZE}?{V}&model-name=colours&features=tags", content=image, headers=OCTET)
    assert_azure_error(r, 400, "NotSupportedFeature")
    assert_azure_error(
        client.post(f"{ANALYZE}?{V}&model-name=other", content=image, headers=OCTET), 404, "NotFound"
    )

    r = client.put(
        f"/computervision/models/colours/evaluations/e1?{V}",
        json={"EvaluationParameters": {"TestDatasetName": "test"}},
    )
    assert r.status_code == 200 and r.json()["modelName"] == "colours"
    evaluation = _poll(client, "/computervision/models/colours/evaluations/e1")
    assert (
        evaluation["status"] == "succeeded" and 0.0 <= evaluation["modelPerformance"]["accuracyTop1"] <= 1.0
    )
    assert [e["name"] for e in client.get(f"/computervision/models/colours/evaluations?{V}").json()] == ["e1"]
    assert client.delete(f"/computervision/models/colours/evaluations/e1?{V}").status_code == 204

    assert client.delete(f"/computervision/models/colours?{V}").status_code == 204
    assert_azure_error(
        client.post(f"{ANALYZE}?{V}&model-name=colours", content=image, headers=OCTET), 404, "NotFound"
    )


def test_a_detector_answers_objects_in_azure_shape(client: TestClient, settings: Settings) -> None:
    store = open_store(settings)
    record = store.create_model(new_model_record("cells", "Generic-Detector", "any", 1.0))
    store.update_model("cells", status="succeeded", info={"score_threshold": 0.0})
    spec = ModelSpec(
        "x", (Role.DETECTOR,), "m:C", PackageSource("imagelens"), "-", options={"classes": ["rbc", "wbc"]}
    )
    write_custom(store.model_dir("cells"), spec, seed=0)
    pixels = np.random.default_rng(0).integers(0, 255, (80, 120, 3), dtype=np.uint8)
    r = client.post(f"{ANALYZE}?{V}&model-name=cells", content=_png(pixels), headers=OCTET)
    assert r.status_code == 200, r.text
    custom = r.json()["customModelResult"]
    assert custom["tagsResult"] == {"values": []}
    objects = custom["objectsResult"]["values"]
    assert objects, "a threshold of 0 keeps every query's best class"
    for obj in objects:
        box = obj["boundingBox"]
        assert set(box) == {"x", "y", "w", "h"} and all(isinstance(v, int) for v in box.values())
        assert 0 <= box["x"] <= box["x"] + box["w"] <= 120 and 0 <= box["y"] <= box["y"] + box["h"] <= 80
        assert len(obj["tags"]) == 1 and obj["tags"][0]["name"] in ("rbc", "wbc")
    assert record.status == "notStarted"  # the record as created; training was never needed here
    store.update_model("cells", status="training")
    assert_azure_error(
        client.post(f"{ANALYZE}?{V}&model-name=cells", content=_png(pixels), headers=OCTET), 409, "Conflict"
    )


def test_analyze_needs_features_or_a_model(client: TestClient) -> None:
    image = _png(np.zeros((64, 64, 3), np.uint8))
    r = client.post(f"{ANALYZE}?{V}", content=image, headers=OCTET)
    assert "model-name" in assert_azure_error(r, 400, "InvalidRequest")["error"]["message"]


def test_a_failed_model_is_trained_again_with_put_but_a_succeeded_one_is_a_conflict(
    client: TestClient, settings: Settings
) -> None:
    """Regression: PUT /models/{name} answered 409 for a name whose training had failed, for good."""
    assert settings.data_dir is not None
    write_classification(settings.data_dir, per_class=3, name="train.json")
    body = {"annotationKind": "imageClassification", "annotationFileUris": ["train.json"]}
    assert client.put(f"/computervision/datasets/train?{V}", json=body).status_code == 200
    store = open_store(settings)
    store.create_model(new_model_record("colours", "Generic-Classifier", "gone", 1.0))
    store.update_model("colours", status="failed", error={"code": "NotFound", "message": "no dataset"})
    assert client.get(f"/computervision/models/colours?{V}").json()["status"] == "failed"
    train = {
        "trainingParameters": {
            "trainingDatasetName": "train",
            "timeBudgetInHours": 1,
            "modelKind": "Generic-Classifier",
        }
    }
    r = client.put(f"/computervision/models/colours?{V}", json=train)
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("notStarted", "training") and "error" not in r.json()
    model = _poll(client, "/computervision/models/colours")
    assert model["status"] == "succeeded", model
    assert 0.0 <= model["modelPerformance"]["accuracyTop1"] <= 1.0
    r = client.put(f"/computervision/models/colours?{V}", json=train)
    assert "delete it" in assert_azure_error(r, 409, "Conflict")["error"]["message"]
    store.create_model(new_model_record("busy", "Generic-Classifier", "train", 1.0))
    store.update_model("busy", status="training", owner="elsewhere:1:x", heartbeat=time.time())
    r = client.put(f"/computervision/models/busy?{V}", json=train)
    assert "cancel it" in assert_azure_error(r, 409, "Conflict")["error"]["message"]


def test_an_unknown_api_version_is_azures_plain_404(client: TestClient) -> None:
    assert_resource_not_found(client.put("/computervision/datasets/d?api-version=2024-02-01", json={}))
