"""Computer Vision 3.2 categories and landmarks over HTTP (tiny random models): the default feature, Azure's
``details=Landmarks`` placement, the landmarks domain model, ``GET /models`` and the clear 400s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from imagelens.api.app import create_app
from imagelens.config import CategorySettings, HubSettings, LandmarkSettings, Settings
from imagelens.features.categories import taxonomy

from .test_routes import OCTET, SAMPLE, assert_azure_error


def _client(tiny_model_dir: Path, tmp_path: Path, file: Path | None = None, **categories: Any) -> TestClient:
    settings = Settings(
        model_dir=tiny_model_dir, hub=HubSettings(offline=True), store_dir=tmp_path / "store",
        categories=CategorySettings(**categories),
        landmarks=LandmarkSettings(file=file, threshold=0.0, max_landmarks=2),
    )  # fmt: skip
    return TestClient(create_app(settings))


def _list(tmp_path: Path) -> Path:
    path = tmp_path / "landmarks.txt"
    path.write_text("Eiffel Tower\nBig Ben\nTaj Mahal\n", encoding="utf-8")
    return path


def test_default_feature_is_categories_with_landmarks_in_their_detail(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    c = _client(tiny_model_dir, tmp_path, _list(tmp_path), threshold=0.0, max_categories=86)
    r = c.post("/vision/v3.2/analyze", content=SAMPLE, headers=OCTET)  # no visualFeatures: Azure's default
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"categories", "requestId", "metadata", "modelVersion"}
    cats = body["categories"]
    assert cats and {c["name"] for c in cats} <= set(taxonomy().names)
    assert [c["score"] for c in cats] == sorted((c["score"] for c in cats), reverse=True)
    assert all(set(c) == {"name", "score"} for c in cats)  # no details asked: no detail block
    r = c.post("/vision/v3.2/analyze?visualFeatures=Categories,Color&details=Landmarks", content=SAMPLE,
               headers=OCTET)  # fmt: skip
    assert r.status_code == 200, r.text
    cats = r.json()["categories"]
    with_detail = [c for c in cats if "detail" in c]
    assert with_detail and all(c["name"].split("_")[0] in ("building", "outdoor") for c in with_detail)
    landmarks = with_detail[0]["detail"]["landmarks"]
    assert len(landmarks) == 2 and set(landmarks[0]) == {"name", "confidence"}
    assert {lm["name"] for lm in landmarks} <= {"Eiffel Tower", "Big Ben", "Taj Mahal"}
    assert "color" in r.json()
    # the landmarks domain model and the model list
    r = c.post("/vision/v3.2/models/landmarks/analyze", content=SAMPLE, headers=OCTET)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"result", "requestId", "metadata", "modelVersion"}
    assert [lm["name"] for lm in r.json()["result"]["landmarks"]] == [lm["name"] for lm in landmarks]
    assert c.get("/vision/v3.2/models").json() == {
        "models": [{"name": "landmarks", "categories": ["outdoor_", "building_"]}]
    }
    # Landmarks without Categories: nowhere to put them, nothing computed
    r = c.post("/vision/v3.2/analyze?visualFeatures=Color&details=Landmarks", content=SAMPLE, headers=OCTET)
    assert r.status_code == 200 and "categories" not in r.json()


def test_default_threshold_and_no_list_errors(tiny_model_dir: Path, tmp_path: Path) -> None:
    c = _client(tiny_model_dir, tmp_path, threshold=1.0)
    r = c.post("/vision/v3.2/analyze?visualFeatures=Categories", content=SAMPLE, headers=OCTET)
    assert r.status_code == 200 and r.json()["categories"] == []  # nothing reaches 1.0
    for url in ("/vision/v3.2/analyze?details=Landmarks", "/vision/v3.2/models/landmarks/analyze"):
        body = assert_azure_error(
            c.post(url, content=SAMPLE, headers=OCTET), 400, "NotSupportedVisualFeature"
        )
        assert "IMAGELENS_LANDMARKS__FILE" in body["error"]["message"]
    assert_azure_error(
        c.post("/vision/v3.2/analyze?details=Bogus", content=SAMPLE, headers=OCTET), 400, "BadArgument"
    )


def test_bad_landmark_lists_are_400s(tiny_model_dir: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("\n".join(f"Place {i}" for i in range(100_000)), encoding="utf-8")
    for file, words in ((tmp_path / "missing.txt", "does not exist"), (big, "more than 10000 names")):
        c = _client(tiny_model_dir, tmp_path, file)
        body = assert_azure_error(
            c.post("/vision/v3.2/models/landmarks/analyze", content=SAMPLE, headers=OCTET), 400, "BadArgument"
        )
        assert words in body["error"]["message"]
