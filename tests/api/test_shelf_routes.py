"""Azure's retail-shelf routes on a fresh app per test: image composition (stitch, rectify), product recognition
runs, planogram matching, and every bad input answered with Azure's error body."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from imagelens.api.app import create_app
from imagelens.api.routes import shelf
from imagelens.config import HubSettings, Settings

from ..shelf.conftest import cut_tiles, synthetic_texture
from .test_routes import assert_resource_not_found

MODEL_ID = "owlv2-base-patch16-ensemble"
V = "api-version=2023-04-01-preview"
STITCH = f"/computervision/imagecomposition:stitch?{V}"
RECTIFY = f"/computervision/imagecomposition:rectify?{V}"
MATCH = f"/computervision/planogramcompliance:match?{V}"
RUNS = "/computervision/productrecognition/ms-pretrained-product-detection/runs"
OCTET = {"content-type": "application/octet-stream"}


@pytest.fixture(scope="module")
def owl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from imagelens.testing.tiny_models import write_tiny_models

    root = tmp_path_factory.mktemp("owl-tiny")
    write_tiny_models(root, seed=0, only=[MODEL_ID])
    return root


@pytest.fixture()
def settings(owl_dir: Path) -> Settings:
    return Settings(model_dir=owl_dir, hub=HubSettings(offline=True), allow_private_urls=True)


def client(settings: Settings, **kwargs: Any) -> TestClient:
    app = create_app(settings, **kwargs)
    if not any(getattr(r, "path", "") == "/computervision/imagecomposition:stitch" for r in app.routes):
        app.include_router(shelf.router, prefix="/computervision")  # until create_app mounts it
    return TestClient(app)


def assert_azure_error(response: Any, status: int, inner: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "innererror"} <= set(body["error"])
    assert body["error"]["innererror"]["code"] == inner
    assert body["error"]["message"]
    return body


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


# --- stitch -------------------------------------------------------------------------------------------------------


def test_stitch_round_trip_over_urls(settings: Settings, file_server: tuple[str, Path]) -> None:
    base, folder = file_server
    source = synthetic_texture(240, 520, seed=11)
    tiles, offsets, (tw, th) = cut_tiles(source, cols=2, rows=1, overlap=0.5)
    for k, tile in enumerate(tiles):
        (folder / f"t{k}.png").write_bytes(png(tile))
    urls = [f"{base}/t{k}.png" for k in range(len(tiles))]
    c = client(settings)
    r = c.post(STITCH, json={"images": urls})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    stitched = decode(r.content)
    span = offsets[-1][0] + tw - offsets[0][0]
    assert abs(stitched.shape[1] - span) <= 3 and abs(stitched.shape[0] - th) <= 3
    r = c.post(STITCH, json={"images": urls}, headers={"accept": "image/jpeg;q=0.5, image/png"})
    assert r.headers["content-type"] == "image/png" and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    # The lossless answer reproduces the source where the tiles overlap (same pixels in both).
    ours = decode(r.content).astype(np.float64)
    x0 = offsets[0][0]
    crop = source[: ours.shape[0], x0 : x0 + ours.shape[1]].astype(np.float64)
    h, w = min(ours.shape[0], crop.shape[0]), min(ours.shape[1], crop.shape[1])
    assert np.abs(ours[:h, :w] - crop[:h, :w]).mean() < 6.0


def test_stitch_non_overlapping_images(settings: Settings, file_server: tuple[str, Path]) -> None:
    base, folder = file_server
    for k in range(2):
        (folder / f"u{k}.png").write_bytes(png(synthetic_texture(160, 200, seed=100 + k)))
    r = client(settings).post(STITCH, json={"images": [f"{base}/u0.png", f"{base}/u1.png"]})
    body = assert_azure_error(r, 400, "BadArgument")
    assert "overlap" in body["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "inner", "needle"),
    [
        ({"images": ["http://example.com/a.png"]}, "BadArgument", "got 1"),
        ({"images": [f"http://example.com/{k}.png" for k in range(21)]}, "BadArgument", "got 21"),
        ({"images": "http://example.com/a.png"}, "BadArgument", "list"),
        ({}, "BadArgument", "list"),
        ({"images": ["/etc/passwd", "/etc/hosts"]}, "InvalidImageUrl", "absolute"),
        ({"images": ["http://example.com/a.png", 7]}, "BadArgument", "images[1]"),
    ],
    ids=["1-url", "21-urls", "not-a-list", "missing", "local-paths", "not-a-string"],
)
def test_stitch_bad_requests(settings: Settings, payload: dict, inner: str, needle: str) -> None:
    body = assert_azure_error(client(settings).post(STITCH, json=payload), 400, inner)
    assert needle in body["error"]["message"]


def test_composition_needs_json_and_a_supported_version(settings: Settings) -> None:
    c = client(settings)
    assert_azure_error(c.post(STITCH, content=b"{not json", headers={"content-type": "application/json"}),
                       400, "InvalidRequest")  # fmt: skip
    assert_azure_error(c.post(STITCH, json=["a", "b"]), 400, "InvalidRequest")
    url = "/computervision/imagecomposition:stitch?api-version=2022-01-01"
    assert_resource_not_found(c.post(url, json={"images": []}))
    assert_azure_error(c.post("/computervision/imagecomposition:stitch", json={}), 400, "InvalidRequest")


def test_private_urls_are_refused_by_default(owl_dir: Path, file_server: tuple[str, Path]) -> None:
    base, folder = file_server
    (folder / "a.png").write_bytes(png(synthetic_texture(100, 100, seed=1)))
    strict = Settings(model_dir=owl_dir, hub=HubSettings(offline=True))
    r = client(strict).post(STITCH, json={"images": [f"{base}/a.png", f"{base}/a.png"]})
    assert_azure_error(r, 400, "InvalidImageUrl")


# --- rectify ------------------------------------------------------------------------------------------------------


def corners(tl: tuple, tr: tuple, br: tuple, bl: tuple) -> dict:
    names = ("topLeft", "topRight", "bottomRight", "bottomLeft")
    return {n: {"x": p[0], "y": p[1]} for n, p in zip(names, (tl, tr, br, bl), strict=True)}


def test_rectify_round_trip(settings: Settings, file_server: tuple[str, Path]) -> None:
    base, folder = file_server
    source = synthetic_texture(200, 400, seed=3)
    (folder / "shelf.png").write_bytes(png(source))
    points = corners((0.25, 0.1), (0.75, 0.1), (0.75, 0.9), (0.25, 0.9))  # an axis-aligned crop: exact answer
    r = client(settings).post(RECTIFY, json={"url": f"{base}/shelf.png", "controlPoints": points},
                              headers={"accept": "image/png"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    out = decode(r.content).astype(np.float64)
    assert out.shape == (160, 200, 3)
    assert np.abs(out - source[20:180, 100:300]).mean() < 1.0


DEGENERATE = {
    "collinear": (corners((0.1, 0.1), (0.5, 0.5), (0.9, 0.9), (0.2, 0.2)), "quadrilateral"),
    "coincident": (corners((0.1, 0.1), (0.1, 0.1), (0.9, 0.9), (0.1, 0.9)), "quadrilateral"),
    "crossed": (corners((0.9, 0.1), (0.1, 0.1), (0.1, 0.9), (0.9, 0.9)), "quadrilateral"),
    "out-of-range": (corners((-0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)), "[0, 1]"),
    "missing-corner": ({"topLeft": {"x": 0.1, "y": 0.1}}, "topRight"),
}


def test_rectify_degenerate_control_points(settings: Settings, file_server: tuple[str, Path]) -> None:
    base, folder = file_server  # one server for all cases: its shutdown costs half a second
    (folder / "s.png").write_bytes(png(synthetic_texture(120, 160, seed=4)))
    c = client(settings)
    for name, (points, needle) in DEGENERATE.items():
        r = c.post(RECTIFY, json={"url": f"{base}/s.png", "controlPoints": points})
        body = assert_azure_error(r, 400, "BadArgument")
        assert needle in body["error"]["message"], name


def test_rectify_needs_a_url(settings: Settings) -> None:
    assert_azure_error(client(settings).post(RECTIFY, json={"controlPoints": {}}), 400, "BadArgument")
    r = client(settings).post(RECTIFY, json={"url": "shelf.png"})
    assert_azure_error(r, 400, "InvalidImageUrl")


def test_rectify_without_a_shelf_is_a_clear_400(settings: Settings, file_server: tuple[str, Path]) -> None:
    """Auto-detection that finds no quadrilateral with clear edges answers Azure's error body, not a warped blob."""
    base, folder = file_server
    (folder / "noshelf.png").write_bytes(png(synthetic_texture(300, 400, seed=1)))
    r = client(settings).post(RECTIFY, json={"url": f"{base}/noshelf.png"})
    body = assert_azure_error(r, 400, "InvalidRequest")
    message = body["error"]["message"]
    assert "no shelf or document edge found" in message and "controlPoints" in message
    assert r.headers["content-type"].startswith("application/json")


# --- product recognition runs -------------------------------------------------------------------------------------


def wait_for(c: TestClient, url: str) -> dict:
    for _ in range(400):
        body = c.get(url).json()
        if body["status"] in {"succeeded", "failed"}:
            return body
        time.sleep(0.025)
    raise AssertionError(f"the run did not finish: {body}")


def test_run_lifecycle_with_raw_bytes(settings: Settings) -> None:
    with client(settings) as c:  # one event loop for the whole test: background runs live as long as it
        run_lifecycle(c)


def run_lifecycle(c: TestClient) -> None:
    image = np.random.default_rng(7).integers(0, 256, (120, 260, 3), dtype=np.uint8)
    url = f"{RUNS}/run-1?{V}"
    r = c.put(url, content=png(image), headers=OCTET)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["runName"] == "run-1" and created["modelName"] == "ms-pretrained-product-detection"
    assert created["status"] in {"notStarted", "running", "succeeded"}
    assert created["createdDateTime"].endswith("Z")
    body = wait_for(c, url)
    assert body["status"] == "succeeded", body
    result = body["result"]
    assert set(result) == {"imageMetadata", "products", "gaps"}
    assert result["imageMetadata"] == {"width": 260, "height": 120}
    for item in result["products"] + result["gaps"]:
        bb = item["boundingBox"]
        assert min(bb["x"], bb["y"]) >= 0 and bb["x"] + bb["w"] <= 260 and bb["y"] + bb["h"] <= 120
        assert all(0.0 <= cl["confidence"] <= 1.0 for cl in item["classifications"])
    assert all(g["classifications"][0]["label"] == "gap" for g in result["gaps"])
    # The same name again: 409; another version string is accepted for GET; DELETE, then it is gone.
    assert_azure_error(c.put(url, content=png(image), headers=OCTET), 409, "Conflict")
    assert c.get(f"{RUNS}/run-1?api-version=2024-02-01").json()["status"] == "succeeded"
    assert c.delete(url).status_code == 204
    assert_azure_error(c.get(url), 404, "NotFound")
    assert_azure_error(c.delete(url), 404, "NotFound")
    assert c.put(url, content=png(image), headers=OCTET).status_code == 201  # the name is free again


def test_run_from_a_url(settings: Settings, file_server: tuple[str, Path]) -> None:
    base, folder = file_server
    (folder / "shelf.png").write_bytes(png(synthetic_texture(100, 180, seed=8)))
    with client(settings) as c:
        r = c.put(f"{RUNS}/from-url?{V}", json={"url": f"{base}/shelf.png"})
        assert r.status_code == 201, r.text
        body = wait_for(c, f"{RUNS}/from-url?{V}")
    assert body["status"] == "succeeded" and body["result"]["imageMetadata"] == {"width": 180, "height": 100}


def test_run_errors(settings: Settings) -> None:
    c = client(settings)
    assert_azure_error(c.get(f"{RUNS}/never-made?{V}"), 404, "NotFound")
    other = f"/computervision/productrecognition/my-custom-model/runs/r?{V}"
    body = assert_azure_error(c.put(other, content=b"x", headers=OCTET), 404, "NotFound")
    assert "ms-pretrained-product-detection" in body["error"]["message"]
    assert_azure_error(c.get(other), 404, "NotFound")
    # A bad image fails at once and leaves no run behind.
    assert_azure_error(c.put(f"{RUNS}/junk?{V}", content=b"junk", headers=OCTET), 400, "InvalidImageFormat")
    assert_azure_error(c.get(f"{RUNS}/junk?{V}"), 404, "NotFound")
    assert_azure_error(c.put(f"{RUNS}/local?{V}", json={"url": "/etc/hosts"}), 400, "InvalidImageUrl")
    assert_resource_not_found(c.put(f"{RUNS}/v?api-version=2099-01-01", content=b"x", headers=OCTET))
    assert_azure_error(c.put(f"{RUNS}/{'x' * 300}?{V}", content=b"x", headers=OCTET), 400, "BadArgument")


class SecondCallRefused:
    """A work pool that runs the first job (loading the image) and is full for the second (the detection)."""

    pending = 0

    def __init__(self) -> None:
        self.calls = 0

    async def run(self, fn: Any) -> Any:
        from imagelens.errors import TooManyRequestsError

        self.calls += 1
        if self.calls > 1:
            raise TooManyRequestsError("busy", retry_after_s=2)
        return fn()

    def close(self) -> None:
        pass


def test_a_full_queue_answers_429_and_keeps_no_run(settings: Settings) -> None:
    c = client(settings, pool=SecondCallRefused())
    image = png(np.zeros((60, 60, 3), np.uint8))
    r = c.put(f"{RUNS}/busy?{V}", content=image, headers=OCTET)
    assert_azure_error(r, 429, "TooManyRequests")
    assert r.headers["Retry-After"] == "2"
    assert_azure_error(c.get(f"{RUNS}/busy?{V}"), 404, "NotFound")


# --- planogram compliance -----------------------------------------------------------------------------------------


PLANOGRAM = {
    "width": 100.0, "height": 50.0,
    "products": [{"id": "cola", "name": "Cola 330ml", "w": 20.0, "h": 20.0},
                 {"id": "lemonade", "name": "Lemonade", "w": 20.0, "h": 20.0}],
    "fixtures": [{"id": "f1", "x": 0.0, "y": 25.0, "w": 100.0, "h": 2.0}],
    "positions": [{"id": "1", "productId": "cola", "fixtureId": "f1", "x": 0.0, "y": 5.0},
                  {"id": "2", "productId": "lemonade", "fixtureId": "f1", "x": 40.0, "y": 5.0},
                  {"id": "3", "productId": "cola", "fixtureId": "f1", "x": 70.0, "y": 5.0}],
}  # fmt: skip

DETECTED = {  # a 400 x 200 image: 4 px per planogram unit
    "imageMetadata": {"width": 400, "height": 200},
    "products": [
        {"id": "a", "boundingBox": {"x": 2, "y": 22, "w": 78, "h": 78},
         "classifications": [{"confidence": 0.9, "label": "cola"}]},
        {"id": "b", "boundingBox": {"x": 162, "y": 20, "w": 80, "h": 80},
         "classifications": [{"confidence": 0.8, "label": "cola"}]},
    ],
    "gaps": [{"id": "g", "boundingBox": {"x": 280, "y": 20, "w": 80, "h": 80},
              "classifications": [{"confidence": 0.7, "label": "gap"}]}],
}  # fmt: skip


def test_planogram_match(settings: Settings) -> None:
    r = client(settings).post(MATCH, json={"detectedProducts": DETECTED, "planogram": PLANOGRAM})
    assert r.status_code == 200, r.text
    per_position = r.json()["matchingResultPerPosition"]
    assert [(p["positionId"], p["state"]) for p in per_position] == [("1", "matched"), ("2", "misplaced"),
                                                                     ("3", "gap")]  # fmt: skip
    assert per_position[0]["detectedObject"]["id"] == "a"
    assert "detectedObject" not in per_position[2]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"detectedProducts": DETECTED, "planogram": {**PLANOGRAM, "width": -1}}, "planogram.width"),
        ({"detectedProducts": DETECTED, "planogram": {k: v for k, v in PLANOGRAM.items() if k != "positions"}},
         "positions"),
        ({"detectedProducts": DETECTED,
          "planogram": {**PLANOGRAM, "positions": [{**PLANOGRAM["positions"][0], "productId": "nope"}]}}, "nope"),
        ({"planogram": PLANOGRAM}, "detectedProducts"),
        ({"detectedProducts": {k: v for k, v in DETECTED.items() if k != "imageMetadata"}, "planogram": PLANOGRAM},
         "imageMetadata"),
        ({"detectedProducts": {**DETECTED, "products": [{**DETECTED["products"][0], "classifications": [{}]}]},
          "planogram": PLANOGRAM}, "label"),
    ],
    ids=["bad-width", "no-positions", "unknown-product", "no-detections", "no-size", "no-label"],
)  # fmt: skip
def test_planogram_malformed(settings: Settings, payload: dict, needle: str) -> None:
    body = assert_azure_error(client(settings).post(MATCH, json=payload), 400, "BadArgument")
    assert needle in body["error"]["message"]


def test_run_result_feeds_the_planogram_route(settings: Settings) -> None:
    image = np.random.default_rng(9).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    with client(settings) as c:
        assert c.put(f"{RUNS}/p?{V}", content=png(image), headers=OCTET).status_code == 201
        result = wait_for(c, f"{RUNS}/p?{V}")["result"]
    plan = {**PLANOGRAM, "products": [{"id": "product", "name": "product", "w": 20.0, "h": 20.0},
                                      {"id": "lemonade", "name": "Lemonade", "w": 20.0, "h": 20.0}],
            "positions": [{**p, "productId": "product"} for p in PLANOGRAM["positions"]]}  # fmt: skip
    with client(settings) as c:
        r = c.post(MATCH, json={"detectedProducts": result, "planogram": plan})
    assert r.status_code == 200, r.text
    states = [p["state"] for p in r.json()["matchingResultPerPosition"]]
    assert len(states) == 3 and set(states) <= {"matched", "misplaced", "gap"}
