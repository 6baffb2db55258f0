"""The HTTP surface with a fresh app per test (tiny random models): routes, bodies, errors, auth, queue."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from imagelens.analyzer import Analyzer
from imagelens.api.app import create_app
from imagelens.compute.local import LocalPool
from imagelens.config import Settings
from imagelens.errors import TooManyRequestsError

from ..conftest import SAMPLE_IMAGE

V40 = "/computervision/imageanalysis:analyze"
SAMPLE = SAMPLE_IMAGE.read_bytes()
OCTET = {"content-type": "application/octet-stream"}


def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def assert_azure_error(response: object, status: int, inner: str) -> dict:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert {"code", "message", "innererror"} <= set(body["error"])
    assert body["error"]["innererror"]["code"] == inner
    assert body["error"]["message"]
    return body


def assert_resource_not_found(response: object) -> None:
    """Azure's gateway answer for an api-version it does not serve (no innererror)."""
    assert response.status_code == 404, response.text  # type: ignore[attr-defined]
    assert response.json() == {"error": {"code": "404", "message": "Resource not found"}}  # type: ignore[attr-defined]


def test_analyze_octet_stream(tiny_settings: Settings) -> None:
    r = client(tiny_settings).post(
        f"{V40}?api-version=2024-02-01&features=read,smartCrops&smartcrops-aspect-ratios=0.9,1.33",
        content=SAMPLE,
        headers=OCTET,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"modelVersion", "metadata", "readResult", "smartCropsResult"}
    assert body["metadata"] == {"width": 1280, "height": 720}
    assert len(body["readResult"]["blocks"]) == 1
    assert [c["aspectRatio"] for c in body["smartCropsResult"]["values"]] == [0.9, 1.33]
    assert r.headers["apim-request-id"]


def test_analyze_multipart_and_chunked(tiny_settings: Settings) -> None:
    c = client(tiny_settings)
    r = c.post(
        f"{V40}?api-version=2023-10-01&features=smartCrops", files={"file": ("a.png", SAMPLE, "image/png")}
    )
    assert r.status_code == 200, r.text

    def chunks():  # no content-length: chunked transfer
        for i in range(0, len(SAMPLE), 16384):
            yield SAMPLE[i : i + 16384]

    r = c.post(f"{V40}?api-version=2023-10-01&features=smartCrops", content=chunks(), headers=OCTET)
    assert r.status_code == 200, r.text


def test_analyze_url_private_refused_then_allowed(
    tiny_settings: Settings, file_server: tuple[str, Path]
) -> None:
    base, folder = file_server
    (folder / "img.png").write_bytes(SAMPLE)
    url = f"{V40}?api-version=2024-02-01&features=smartCrops"
    r = client(tiny_settings).post(url, json={"url": f"{base}/img.png"})
    assert_azure_error(r, 400, "InvalidImageUrl")
    allowed = tiny_settings.model_copy(update={"allow_private_urls": True})
    r = client(allowed).post(url, json={"url": f"{base}/img.png"})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"width": 1280, "height": 720}


@pytest.mark.parametrize(
    ("query", "body", "headers", "status", "inner"),
    [
        ("features=read", SAMPLE, OCTET, 400, "InvalidRequest"),  # no api-version
        ("api-version=2024-02-01", SAMPLE, OCTET, 400, "InvalidRequest"),  # no features
        ("api-version=2024-02-01&features=Reed", SAMPLE, OCTET, 400, "NotSupportedVisualFeature"),
        ("api-version=2024-02-01&features=read&model-version=v1", SAMPLE, OCTET, 400, "BadArgument"),
        ("api-version=2024-02-01&features=read&model-version=2021-01-01", SAMPLE, OCTET, 400, "BadArgument"),
        ("api-version=2024-02-01&features=faces", SAMPLE, OCTET, 400, "NotSupportedVisualFeature"),
        (
            "api-version=2024-02-01&features=smartCrops&smartcrops-aspect-ratios=5",
            SAMPLE,
            OCTET,
            400,
            "BadArgument",
        ),
        (
            "api-version=2024-02-01&features=smartCrops&smartcrops-aspect-ratios=a",
            SAMPLE,
            OCTET,
            400,
            "BadArgument",
        ),
        (
            "api-version=2024-02-01&features=smartCrops&gender-neutral-caption=maybe",
            SAMPLE,
            OCTET,
            400,
            "BadArgument",
        ),
        ("api-version=2024-02-01&features=smartCrops&language=%21%21", SAMPLE, OCTET, 400, "BadArgument"),
        ("api-version=2024-02-01&features=smartCrops", b"", OCTET, 400, "InvalidRequest"),
        ("api-version=2024-02-01&features=smartCrops", b"garbage", OCTET, 400, "InvalidImageFormat"),
        (
            "api-version=2024-02-01&features=smartCrops",
            b"{",
            {"content-type": "application/json"},
            400,
            "InvalidRequest",
        ),
        (
            "api-version=2024-02-01&features=smartCrops",
            b'{"uri": 1}',
            {"content-type": "application/json"},
            400,
            "InvalidRequest",
        ),
        (
            "api-version=2024-02-01&features=smartCrops",
            b'{"url": "file:///etc/passwd"}',
            {"content-type": "application/json"},
            400,
            "InvalidImageUrl",
        ),
        (
            "api-version=2024-02-01&features=smartCrops",
            b'{"url": "samples/shop_receipt.png"}',
            {"content-type": "application/json"},
            400,
            "InvalidImageUrl",
        ),  # never a path on the server's disk
        (
            "api-version=2024-02-01&features=smartCrops",
            b'{"url": "/etc/passwd"}',
            {"content-type": "application/json"},
            400,
            "InvalidImageUrl",
        ),
        (
            "api-version=2024-02-01&features=smartCrops",
            b'{"url": "http://169.254.169.254/latest"}',
            {"content-type": "application/json"},
            400,
            "InvalidImageUrl",
        ),
        ("api-version=2024-02-01&features=read&model-name=mine", SAMPLE, OCTET, 400, "NotSupportedFeature"),
    ],
)
def test_v40_errors_have_azure_body(
    tiny_settings: Settings, query: str, body: bytes, headers: dict, status: int, inner: str
) -> None:
    r = client(tiny_settings).post(f"{V40}?{query}", content=body, headers=headers)
    assert_azure_error(r, status, inner)


def test_too_large_body_refused_early(tiny_settings: Settings) -> None:
    small = tiny_settings.model_copy(
        update={"limits": tiny_settings.limits.model_copy(update={"max_bytes": 1000})}
    )
    r = client(small).post(f"{V40}?api-version=2024-02-01&features=smartCrops", content=SAMPLE, headers=OCTET)
    assert_azure_error(r, 400, "InvalidImageSize")


def test_unknown_route_and_method_are_azure_shaped(tiny_settings: Settings) -> None:
    c = client(tiny_settings)
    assert_azure_error(c.get("/nope"), 404, "NotFound")
    r = c.get(f"{V40}?api-version=2024-02-01&features=read")
    assert r.status_code == 405 and "error" in r.json()


def test_keys_required_when_configured(tiny_settings: Settings) -> None:
    keyed = tiny_settings.model_copy(update={"api_keys": "k1,k2"})
    c = client(keyed)
    url = f"{V40}?api-version=2024-02-01&features=smartCrops"
    assert_azure_error(c.post(url, content=SAMPLE, headers=OCTET), 401, "Unauthorized")
    assert_azure_error(
        c.post(url, content=SAMPLE, headers={**OCTET, "Ocp-Apim-Subscription-Key": "k3"}), 401, "Unauthorized"
    )
    assert (
        c.post(url, content=SAMPLE, headers={**OCTET, "Ocp-Apim-Subscription-Key": "k2"}).status_code == 200
    )
    assert c.get("/health").status_code == 200  # open


def test_health_ready_openapi(tiny_settings: Settings) -> None:
    c = client(tiny_settings)
    assert c.get("/health").json()["status"] == "ok"
    ready = c.get("/ready").json()
    assert ready["status"] == "ready" and "ppocr-v6-small" in ready["models"]
    assert "/computervision/imageanalysis:analyze" in c.get("/openapi.json").json()["paths"]


def test_missing_model_is_503_naming_it(tiny_settings: Settings, tmp_path: Path) -> None:
    settings = Settings(
        model_dir=tmp_path,
        models={"ocr": "ppocr-v5-server-en"},
        hub=tiny_settings.hub.model_copy(update={"cache_dir": tmp_path / "hf"}),
    )
    r = client(settings).post(f"{V40}?api-version=2024-02-01&features=read", content=SAMPLE, headers=OCTET)
    body = assert_azure_error(r, 503, "ModelUnavailable")
    assert "ppocr-v5-server-en" in body["error"]["message"]


def test_pool_refuses_beyond_capacity() -> None:
    pool = LocalPool(workers=1, max_queue=1)
    release = threading.Event()

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(pool.run(release.wait))
        second = asyncio.ensure_future(pool.run(release.wait))
        await asyncio.sleep(0.05)
        with pytest.raises(TooManyRequestsError):
            await pool.run(lambda: None)
        release.set()
        return list(await asyncio.gather(first, second))

    assert asyncio.run(scenario()) == [True, True]
    pool.close()


def test_server_answers_429_with_retry_after(tiny_settings: Settings) -> None:
    analyzer = Analyzer(tiny_settings)
    pool = LocalPool(workers=1, max_queue=0)
    gate = threading.Event()
    slow_started = threading.Event()
    original = analyzer.analyze

    def slow_analyze(*args: object, **kwargs: object) -> object:
        slow_started.set()
        gate.wait(10)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    analyzer.analyze = slow_analyze  # type: ignore[method-assign]
    app = create_app(tiny_settings, analyzer=analyzer, pool=pool)
    url = f"{V40}?api-version=2024-02-01&features=smartCrops"
    results: list[int] = []
    with TestClient(app) as c:
        t = threading.Thread(
            target=lambda: results.append(c.post(url, content=SAMPLE, headers=OCTET).status_code)
        )
        t.start()
        assert slow_started.wait(10)
        r = c.post(url, content=SAMPLE, headers=OCTET)
        gate.set()
        t.join(10)
    assert_azure_error(r, 429, "TooManyRequests")
    assert r.headers["Retry-After"] == "1"
    assert results == [200]


# --- 3.2 -----------------------------------------------------------------------------------------------------------


def test_v32_read_polling(tiny_settings: Settings) -> None:
    with TestClient(
        create_app(tiny_settings)
    ) as c:  # one event loop for the whole test: the background work runs
        _poll_read(c)


def _poll_read(c: TestClient) -> None:
    r = c.post("/vision/v3.2/read/analyze", content=SAMPLE, headers=OCTET)
    assert r.status_code == 202, r.text
    location = r.headers["Operation-Location"]
    assert location.startswith("http://testserver/vision/v3.2/read/analyzeResults/")
    for _ in range(200):
        body = c.get(location).json()
        if body["status"] in {"succeeded", "failed"}:
            break
        time.sleep(0.05)
    assert body["status"] == "succeeded", body
    page = body["analyzeResult"]["readResults"][0]
    assert (page["width"], page["height"], page["unit"]) == (1280, 720, "pixel")
    op_id = location.rsplit("/", 1)[1]
    assert c.get(f"/vision/v3.2/read/operations/{op_id}").json()["status"] == "succeeded"
    assert_azure_error(c.get("/vision/v3.2/read/analyzeResults/unknown"), 404, "NotFound")


def test_v32_read_bad_image_fails_synchronously(tiny_settings: Settings) -> None:
    r = client(tiny_settings).post("/vision/v3.2/read/analyze", content=b"junk", headers=OCTET)
    assert_azure_error(r, 400, "InvalidImageFormat")


def test_v32_ocr_thumbnail_aoi(tiny_settings: Settings) -> None:
    c = client(tiny_settings)
    r = c.post("/vision/v3.2/ocr?language=en&detectOrientation=true", content=SAMPLE, headers=OCTET)
    assert r.status_code == 200 and r.json()["orientation"] == "Up"
    r = c.post(
        "/vision/v3.2/generateThumbnail?width=100&height=80&smartCropping=true", content=SAMPLE, headers=OCTET
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (100, 80)
    assert_azure_error(
        c.post("/vision/v3.2/generateThumbnail?width=0&height=80", content=SAMPLE, headers=OCTET),
        400,
        "BadArgument",
    )
    r = c.post("/vision/v3.2/areaOfInterest", content=SAMPLE, headers=OCTET)
    box = r.json()["areaOfInterest"]
    assert box["x"] >= 0 and box["x"] + box["w"] <= 1280 and box["w"] > 0 and box["h"] > 0


def test_v32_analyze_family_shapes(tiny_settings: Settings) -> None:
    c = client(tiny_settings)
    r = c.post(
        "/vision/v3.2/analyze?visualFeatures=Description,Objects,Faces,Tags", content=SAMPLE, headers=OCTET
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"description", "objects", "faces", "tags", "requestId", "metadata", "modelVersion"} <= set(body)
    assert body["metadata"] == {"width": 1280, "height": 720, "format": "Png"}
    assert len(body["description"]["captions"]) <= 1
    for face in body["faces"]:
        assert set(face) == {"faceRectangle"}  # boxes only: never age, gender or identity
    for obj in body["objects"]:
        assert set(obj["rectangle"]) == {"x", "y", "w", "h"} and 0 <= obj["confidence"] <= 1
    r = c.post("/vision/v3.2/describe?maxCandidates=2", content=SAMPLE, headers=OCTET)
    assert r.status_code == 200 and set(r.json()["description"]) == {"tags", "captions"}
    assert set(c.post("/vision/v3.2/tag", content=SAMPLE, headers=OCTET).json()) >= {"tags", "requestId"}
    assert set(c.post("/vision/v3.2/detect", content=SAMPLE, headers=OCTET).json()) >= {
        "objects",
        "requestId",
    }
    assert_azure_error(
        c.post("/vision/v3.2/describe?maxCandidates=99", content=SAMPLE, headers=OCTET), 400, "BadArgument"
    )


def test_v32_declined_and_not_yet(tiny_settings: Settings) -> None:
    c = client(tiny_settings)
    # celebrities are declined by design, but the request succeeds: no celebrity, a warning, the rest answered
    r = c.post("/vision/v3.2/analyze?visualFeatures=Tags&details=Celebrities", content=SAMPLE, headers=OCTET)
    assert r.status_code == 200, r.text
    assert "tags" in r.json() and r.json()["warnings"][0]["code"] == "CelebrityRecognitionDeclined"
    r = c.post("/vision/v3.2/models/celebrities/analyze", content=SAMPLE, headers=OCTET)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"celebrities": []} and r.json()["warnings"]
    assert_azure_error(
        c.post("/vision/v3.2/analyze?visualFeatures=Bogus", content=SAMPLE, headers=OCTET), 400, "BadArgument"
    )
