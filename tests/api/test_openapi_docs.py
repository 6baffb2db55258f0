"""/docs works offline (its assets are served here), and /openapi.json describes the Azure routes' query
parameters, image body and response schemas; real bodies match the documented schemas."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from imagelens.api import schemas
from imagelens.api.app import create_app
from imagelens.config import Settings

from ..conftest import SAMPLE_IMAGE

SAMPLE = SAMPLE_IMAGE.read_bytes()
OCTET = {"content-type": "application/octet-stream"}
V40 = "/computervision/imageanalysis:analyze"


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = (
        TestClient(create_app(Settings())).get("/openapi.json").json()
    )  # no model loads
    return document


# --- /docs offline ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_reference_only_local_assets(tiny_settings: Settings, page: str) -> None:
    pytest.importorskip("fastapi_offline", reason="the server extra's fastapi-offline is not installed")
    keyed = tiny_settings.model_copy(update={"api_keys": "k1"})  # the docs stay open when keys are set
    c = TestClient(create_app(keyed))
    r = c.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert not re.search(r"(?:https?:)?//[\w.-]+\.\w+/", html), (
        "the docs page loads something from another host"
    )
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, html
    kinds = set()
    for url in urls:
        assert url.startswith("/docs/static/"), url
        asset = c.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
        kinds.add(asset.headers["content-type"].split(";")[0])
    expected = {"text/javascript", "image/png"} | ({"text/css"} if page == "/docs" else set())
    assert expected <= kinds, kinds
    assert c.get("/docs/static/nope.js").status_code == 404
    assert c.get("/docs/oauth2-redirect").status_code == 200


# --- the OpenAPI document -----------------------------------------------------------------------------------------


def _operation(openapi: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    operation: dict[str, Any] = openapi["paths"][path][method]
    return operation


def _query(operation: dict[str, Any]) -> dict[str, bool]:
    return {p["name"]: p["required"] for p in operation.get("parameters", ()) if p["in"] == "query"}


def _ref(response: dict[str, Any]) -> str:
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


def test_v40_analyze_is_described(openapi: dict[str, Any]) -> None:
    op = _operation(openapi, V40)
    assert _query(op) == {
        "api-version": True,
        "features": False,
        "language": False,
        "gender-neutral-caption": False,
        "smartcrops-aspect-ratios": False,
        "model-version": False,
        "model-name": False,
    }
    api_version = next(p for p in op["parameters"] if p["name"] == "api-version")
    assert "2024-02-01" in api_version["schema"]["enum"]
    assert _ref(op["responses"]["200"]) == "ImageAnalysisResult"
    for status in ("400", "401", "404", "409", "429", "503"):
        assert _ref(op["responses"][status]) == "ErrorResponse", status
    assert "422" not in op["responses"]  # validation errors answer 400 with Azure's body here
    assert set(op["requestBody"]["content"]) == {
        "application/octet-stream",
        "application/json",
        "multipart/form-data",
    }
    result = openapi["components"]["schemas"]["ImageAnalysisResult"]
    assert {"modelVersion", "metadata", "captionResult", "readResult", "smartCropsResult"} <= set(
        result["properties"]
    )
    assert {"error"} == set(openapi["components"]["schemas"]["ErrorResponse"]["properties"])
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


@pytest.mark.parametrize(
    ("path", "method", "query", "schema"),
    [
        (
            "/vision/v3.2/analyze",
            "post",
            {"visualFeatures": False, "details": False, "language": False, "model-version": False},
            "ImageAnalysis32",
        ),
        (
            "/vision/v3.2/describe",
            "post",
            {"maxCandidates": False, "language": False, "model-version": False},
            "ImageDescriptionResult32",
        ),
        ("/vision/v3.2/tag", "post", {"language": False, "model-version": False}, "TagResult32"),
        ("/vision/v3.2/detect", "post", {"language": False, "model-version": False}, "DetectResult32"),
        ("/vision/v3.2/ocr", "post", {"language": False, "detectOrientation": False}, "OcrResult32"),
        ("/vision/v3.2/read/analyzeResults/{operation_id}", "get", {}, "ReadOperationResult32"),
        ("/vision/v3.2/areaOfInterest", "post", {}, "AreaOfInterestResult32"),
        ("/vision/v3.2/models", "get", {}, "ListModelsResult32"),
    ],
)
def test_v32_routes_are_described(
    openapi: dict[str, Any], path: str, method: str, query: dict[str, bool], schema: str
) -> None:
    op = _operation(openapi, path, method)
    assert _query(op) == query
    assert _ref(op["responses"]["200"]) == schema
    assert _ref(op["responses"]["401"]) == "ErrorResponse"


def test_v32_thumbnail_and_read_are_described(openapi: dict[str, Any]) -> None:
    op = _operation(openapi, "/vision/v3.2/generateThumbnail")
    assert _query(op) == {"width": True, "height": True, "smartCropping": False}
    assert "image/jpeg" in op["responses"]["200"]["content"]
    assert _ref(op["responses"]["400"]) == "ErrorResponse"
    op = _operation(openapi, "/vision/v3.2/read/analyze")
    assert _query(op) == {"language": False, "pages": False, "readingOrder": False, "model-version": False}
    assert "Operation-Location" in op["responses"]["202"]["headers"]


# --- real bodies match the documented schemas ---------------------------------------------------------------------


def _check(model: type[BaseModel], body: Any) -> None:
    model.model_validate(body)  # extra keys are forbidden: a body the schema does not describe fails here


@pytest.mark.slow
def test_real_bodies_match_their_schemas(tiny_settings: Settings) -> None:
    with TestClient(create_app(tiny_settings)) as c:
        r = c.post(
            f"{V40}?api-version=2024-02-01&features=read,smartCrops,caption,denseCaptions,tags,objects,people",
            content=SAMPLE,
            headers=OCTET,
        )
        assert r.status_code == 200, r.text
        _check(schemas.ImageAnalysisResult, r.json())
        r = c.post(f"{V40}?api-version=2024-02-01&features=faces", content=SAMPLE, headers=OCTET)
        _check(schemas.ErrorResponse, r.json())
        visual = "Description,Objects,Faces,Tags,Color"
        _check(schemas.ImageAnalysis32, c.post(f"/vision/v3.2/analyze?visualFeatures={visual}", content=SAMPLE,
                                               headers=OCTET).json())  # fmt: skip
        for route, model in [
            ("describe?maxCandidates=2", schemas.ImageDescriptionResult32),
            ("tag", schemas.TagResult32),
            ("detect", schemas.DetectResult32),
            ("ocr", schemas.OcrResult32),
            ("areaOfInterest", schemas.AreaOfInterestResult32),
        ]:
            r = c.post(f"/vision/v3.2/{route}", content=SAMPLE, headers=OCTET)
            assert r.status_code == 200, (route, r.text)
            _check(model, r.json())
        _check(schemas.ListModelsResult32, c.get("/vision/v3.2/models").json())
        location = c.post("/vision/v3.2/read/analyze", content=SAMPLE, headers=OCTET).headers[
            "Operation-Location"
        ]
        for _ in range(200):
            body = c.get(location).json()
            _check(schemas.ReadOperationResult32, body)
            if body["status"] in {"succeeded", "failed"}:
                break
            time.sleep(0.05)
        assert body["status"] == "succeeded" and body["analyzeResult"]["readResults"]
        _check(schemas.ErrorResponse, c.get("/vision/v3.2/read/analyzeResults/nope").json())
