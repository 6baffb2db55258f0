"""The retrieval routes with raw HTTP, exactly as Azure documents them (the 4.0 SDK has no vectorize method)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from imagelens.api.app import create_app
from imagelens.config import Settings

V = "api-version=2024-02-01"
IDX = "api-version=2023-05-01-preview"


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:60, 0:80]
    c = rng.integers(1, 255, 3)
    arr = np.stack([(x * c[0]) // 80, (y * c[1]) // 60, ((x + y) * c[2]) // 140], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture()
def client(tiny_settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    settings = tiny_settings.model_copy(update={"store_dir": tmp_path / "store"})
    with TestClient(create_app(settings)) as c:
        yield c


def _error(resp, status: int, inner: str) -> str:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["innererror"]["code"] == inner
    return str(body["message"])


def test_vectorize_image_and_text(client: TestClient) -> None:
    img = client.post(
        f"/computervision/retrieval:vectorizeImage?{V}&model-version=latest",
        content=_png(0),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert img.status_code == 200, img.text
    body = img.json()
    assert set(body) == {"modelVersion", "vector"} and body["modelVersion"] == "siglip2-base-patch16-224"
    assert abs(np.linalg.norm(body["vector"]) - 1.0) < 1e-4
    txt = client.post(f"/computervision/retrieval:vectorizeText?{V}", json={"text": "cat jumping"})
    assert txt.status_code == 200 and len(txt.json()["vector"]) == len(body["vector"])
    assert "apim-request-id" in txt.headers


def test_vectorize_errors_have_azure_bodies(client: TestClient) -> None:
    url = f"/computervision/retrieval:vectorizeText?{V}"
    assert "empty" in _error(client.post(url, json={"text": ""}), 400, "InvalidRequest")
    big = client.post(url, json={"text": "x" * 10_000_000})  # refused by the body guard before it is parsed
    assert big.status_code == 400 and "larger than" in big.json()["error"]["message"]
    # a body the guard lets through: the 1,000-character rule answers
    long = client.post(url, json={"text": "x" * 5_000})
    assert long.status_code == 400 and "maximum" in long.json()["error"]["message"]
    _error(client.post(url, json={"nope": 1}), 400, "InvalidRequest")
    _error(client.post(f"{url}&model-version=2023-04-15", json={"text": "a"}), 400, "BadArgument")
    unknown = client.post(
        "/computervision/retrieval:vectorizeText?api-version=2099-01-01", json={"text": "a"}
    )
    assert unknown.status_code == 404  # Azure's gateway answer for an api-version it does not serve
    assert unknown.json() == {"error": {"code": "404", "message": "Resource not found"}}
    _error(
        client.post(
            f"/computervision/retrieval:vectorizeImage?{V}",
            content=b"not an image",
            headers={"Content-Type": "application/octet-stream"},
        ),
        400,
        "InvalidImageFormat",
    )


def test_index_lifecycle_and_queries(client: TestClient) -> None:
    base = "/computervision/retrieval/indexes/photos"
    created = client.put(f"{base}?{IDX}", json={})
    assert created.status_code == 201 and created.json()["features"][0]["name"] == "vision"
    _error(client.put(f"{base}?{IDX}", json={}), 409, "Conflict")
    for i in range(4):
        put = client.put(
            f"{base}/documents/img{i}?{IDX}&metadata.camera=cam{i % 2}",
            content=_png(i),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 200, put.text
    got = client.get(f"{base}?{IDX}").json()
    assert got["documentCount"] == 4
    assert [i["name"] for i in client.get(f"/computervision/retrieval/indexes?{IDX}").json()["value"]] == [
        "photos"
    ]

    q = client.post(f"{base}:queryByText?{IDX}", json={"queryText": "a photo", "top": 3})
    assert q.status_code == 200, q.text
    value = q.json()["value"]
    assert len(value) == 3 and all(
        0.0 <= v["relevance"] <= 1.0 and v["documentKind"] == "image" for v in value
    )
    filtered = client.post(
        f"{base}:queryByText?{IDX}",
        json={
            "queryText": "a photo",
            "top": 10,
            "filters": {"stringFilters": [{"fieldName": "camera", "values": ["cam1"]}]},
        },
    ).json()["value"]
    assert sorted(v["documentId"] for v in filtered) == ["img1", "img3"]
    by_image = client.post(
        f"{base}:queryByImage?{IDX}&top=1",
        content=_png(2),
        headers={"Content-Type": "application/octet-stream"},
    ).json()["value"]
    assert by_image[0]["documentId"] == "img2" and by_image[0]["relevance"] > 0.999
    region = client.post(
        f"{base}:queryByImage?{IDX}&top=2&region=0,0,32,24",
        content=_png(2),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert region.status_code == 200 and len(region.json()["value"]) == 2
    dim = len(
        client.post(f"/computervision/retrieval:vectorizeText?{V}", json={"text": "a"}).json()["vector"]
    )
    assert "dimensions" in _error(
        client.post(f"{base}:queryByVector?{IDX}", json={"vector": [0.1] * (dim + 3)}), 400, "BadArgument"
    )
    assert (
        client.post(f"{base}:queryByVector?{IDX}", json={"vector": [0.1] * dim, "top": 2}).status_code == 200
    )
    assert "empty" in _error(
        client.post(f"{base}:queryByText?{IDX}", json={"queryText": " "}), 400, "InvalidRequest"
    )
    _error(client.post(f"{base}:queryByText?{IDX}", json={"queryText": "a", "top": 0}), 400, "BadArgument")
    dups = client.get(f"{base}/duplicates?{IDX}&threshold=0.999")
    assert dups.status_code == 200 and dups.json()["value"] == []

    assert client.delete(f"{base}/documents/img0?{IDX}").status_code == 204
    _error(client.delete(f"{base}/documents/img0?{IDX}"), 404, "NotFound")
    bad = client.put(
        f"{base}/ingestions/batch1?{IDX}", json={"images": [{"mode": "add", "documentUrl": "ftp://x"}]}
    )
    _error(bad, 400, "InvalidRequest")
    removed = client.put(
        f"{base}/ingestions/batch2?{IDX}", json={"images": [{"mode": "remove", "documentId": "img1"}]}
    )
    assert removed.status_code == 200 and removed.json()["documentsRemoved"] == 1
    assert client.get(f"{base}?{IDX}").json()["documentCount"] == 2
    assert client.delete(f"{base}?{IDX}").status_code == 204
    _error(client.get(f"{base}?{IDX}"), 404, "NotFound")


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/computervision/retrieval:vectorizeImage" in paths
    assert "/computervision/retrieval/indexes/{name}:queryByText" in paths
    params = {p["name"] for p in paths["/computervision/retrieval:vectorizeText"]["post"]["parameters"]}
    assert {"api-version", "model-version"} <= params
