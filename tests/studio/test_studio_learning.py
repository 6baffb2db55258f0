"""The studio's active-learning suggestions and PR curves, server side, with a tiny random-weight detector."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from imagelens.api.app import create_app
from imagelens.api.routes import customization
from imagelens.api.studio import unlabelled_images
from imagelens.config import HubSettings, Settings
from imagelens.customize.active import rank_custom_results
from imagelens.customize.job_state import new_model_record
from imagelens.customize.metrics import evaluate_classification
from imagelens.customize.metrics.coco_json import evaluate_coco_detection
from imagelens.models.spec import ModelSpec, PackageSource, Role
from imagelens.store import open_store
from imagelens.testing.tiny.rtdetr import write_custom
from imagelens.types import BoundingBox, CustomModelResult, DetectedObject, Tag

KEY = {"Ocp-Apim-Subscription-Key": "k1"}


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (60, 64, 3), dtype=np.uint8)).save(
        buf, "PNG"
    )
    return buf.getvalue()


@pytest.fixture()
def settings(tiny_model_dir: Path, tmp_path: Path) -> Settings:
    (tmp_path / "data").mkdir()
    return Settings(
        model_dir=tiny_model_dir,
        hub=HubSettings(offline=True),
        data_dir=tmp_path / "data",
        store_dir=tmp_path / "store",
        api_keys="k1",
    )


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as c:
        yield c
    customization.stop(app)


def _detector(settings: Settings, name: str = "cells") -> None:
    store = open_store(settings)
    store.create_model(new_model_record(name, "Generic-Detector", "any", 1.0))
    store.update_model(name, status="succeeded", info={"score_threshold": 0.0})
    spec = ModelSpec(
        "x", (Role.DETECTOR,), "m:C", PackageSource("imagelens"), "-", options={"classes": ["a", "b"]}
    )
    write_custom(store.model_dir(name), spec, seed=0)


def test_suggestions_rank_only_the_unlabelled_images(client: TestClient, settings: Settings) -> None:
    _detector(settings)
    for i in range(4):
        assert (
            client.put(f"/studio/api/datasets/d/images/im{i}.png", content=_png(i), headers=KEY).status_code
            == 200
        )
    small = io.BytesIO()
    Image.new("RGB", (20, 20)).save(small, "PNG")  # under Azure's 50-pixel minimum: skipped, named
    client.put("/studio/api/datasets/d/images/tiny.png", content=small.getvalue(), headers=KEY)
    coco = {
        "images": [{"id": k + 1, "file_name": f"im{k}.png", "width": 64, "height": 60} for k in range(3)],
        "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 1, 9, 9]}],
        "categories": [{"id": 1, "name": "a"}],
    }
    assert client.put("/studio/api/datasets/d/coco", json=coco, headers=KEY).status_code == 200
    assert settings.data_dir is not None
    assert unlabelled_images(settings.data_dir / "studio" / "d") == [
        "im0.png",
        "im2.png",
        "im3.png",
        "tiny.png",
    ]

    r = client.get("/studio/api/models/cells/suggestions?dataset=d&top=2")
    assert r.status_code == 401
    r = client.get("/studio/api/models/cells/suggestions?dataset=d&top=2", headers=KEY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unlabelled"] == 4 and body["scanned"] == 4 and body["method"] == "margin"
    assert [s["file_name"] for s in body["skipped"]] == ["images/tiny.png"]
    got = body["suggestions"]
    assert len(got) == 2 and {s["file_name"] for s in got} <= {
        "images/im0.png",
        "images/im2.png",
        "images/im3.png",
    }
    assert got[0]["uncertainty"] >= got[1]["uncertainty"] and all(0 <= s["uncertainty"] <= 1 for s in got)
    again = client.get("/studio/api/models/cells/suggestions?dataset=d&top=2", headers=KEY).json()
    assert again["suggestions"] == got  # deterministic


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("absent/suggestions?dataset=d", 404, "NotFound"),
        ("cells/suggestions?dataset=d&top=0", 400, "BadArgument"),
        ("cells/suggestions?dataset=d&method=coin", 400, "BadArgument"),
        ("cells/suggestions?dataset=bad%20name", 400, "BadArgument"),
    ],
)
def test_bad_suggestion_requests_are_azure_errors(
    client: TestClient, settings: Settings, query: str, status: int, code: str
) -> None:
    _detector(settings)
    r = client.get(f"/studio/api/models/{query}", headers=KEY)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert code in (error["code"], error.get("innererror", {}).get("code")), error


def test_an_unknown_evaluation_is_404(client: TestClient, settings: Settings) -> None:
    _detector(settings)
    r = client.get("/studio/api/models/cells/evaluations/none", headers=KEY)
    assert r.status_code == 404


def _det(*scores: float) -> CustomModelResult:
    box = BoundingBox(0, 0, 4, 4)
    return CustomModelResult(objects=tuple(DetectedObject(box, (Tag("a", s),)) for s in scores))


def test_rank_custom_results_for_detectors_and_classifiers() -> None:
    ranked = rank_custom_results([_det(0.95), _det(0.9, 0.55), _det()], ["sure", "unsure", "none"])
    assert [i for i, _ in ranked] == ["unsure", "sure", "none"] and ranked[0][1] == pytest.approx(0.9)
    tags = [CustomModelResult(tags=(Tag("a", p), Tag("b", 1 - p))) for p in (0.9, 0.5, 0.7)]
    assert [i for i, _ in rank_custom_results(tags, [1, 2, 3], top=2)] == [2, 3]
    one = [CustomModelResult(tags=(Tag("a", p),)) for p in (0.99, 0.6)]
    assert [i for i, _ in rank_custom_results(one, ["x", "y"])] == ["y", "x"]


def test_metrics_carry_pr_curve_points() -> None:
    gt = {
        "images": [{"id": 1, "width": 20, "height": 20}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}],
        "categories": [{"id": 1, "name": "cell"}, {"id": 2, "name": "empty"}],
    }
    preds = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}]
    curves = evaluate_coco_detection(gt, preds).to_dict()["pr_curves"]
    assert [c["name"] for c in curves] == ["cell"]  # no ground truth: no curve
    assert len(curves[0]["recall"]) == len(curves[0]["precision"]) == 101 and curves[0]["iou"] == 0.5
    assert curves[0]["precision"][0] == 1.0 and curves[0]["recall"][-1] == 1.0
    probs = np.asarray([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    out = evaluate_classification([0, 1, 1], probs, class_names=["a", "b"]).to_dict()
    assert [c["name"] for c in out["pr_curves"]] == ["a", "b"]
    assert all(len(c["recall"]) == len(c["precision"]) >= 1 for c in out["pr_curves"])
    json.dumps(out)  # stored as JSON
