"""The video-retrieval preview over HTTP: indexes, ingestions (background, resumed after a restart), documents,
queries, filters and Azure error bodies. In-process, tiny random SigLIP, local files under the data folder."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from imagelens.config import Settings  # noqa: E402
from imagelens.video.write import write_slideshow  # noqa: E402
from tests.video.conftest import pattern  # noqa: E402

P = "api-version=2023-05-01-preview"
BASE = "/computervision/retrieval/indexes"


def _client(settings: Settings) -> TestClient:
    from imagelens.api.app import create_app

    return TestClient(create_app(settings))


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    with _client(settings) as c:
        yield c


@pytest.fixture()
def videos(settings: Settings) -> dict[str, Path]:
    assert settings.data_dir is not None
    out = {}
    for name, seeds in (("a.mp4", (1, 2, 3)), ("b.mp4", (4, 5))):
        path = Path(settings.data_dir) / name
        write_slideshow(path, [(pattern(s), 2.0) for s in seeds], fps=10)
        out[name] = path
    (Path(settings.data_dir) / "junk.mp4").write_bytes(b"not a video at all" * 10)
    return out


def _wait(client: TestClient, index: str, name: str) -> dict[str, Any]:
    for _ in range(300):
        body: dict[str, Any] = client.get(f"{BASE}/{index}/ingestions/{name}?{P}").json()
        if body["state"] not in ("NotStarted", "Running"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"ingestion {name} did not finish: {body}")


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_index_ingest_query_and_documents(client: TestClient, videos: dict[str, Path]) -> None:
    r = client.put(f"{BASE}/clips?{P}", json={"features": [{"name": "vision"}], "userData": {"team": "x"}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "clips" and body["features"][0]["name"] == "vision"
    assert {"eTag", "createdDateTime", "lastModifiedDateTime", "metadataSchema"} <= set(body)
    assert client.put(f"{BASE}/clips?{P}", json={"features": [{"name": "vision"}]}).status_code == 409
    r = client.put(
        f"{BASE}/clips/ingestions/first?{P}",
        json={
            "videos": [
                {"mode": "add", "documentId": "a", "documentUrl": "a.mp4", "metadata": {"cameraId": "cam1"}},
                {"mode": "add", "documentId": "b", "documentUrl": f"file://{videos['b.mp4']}"},
                {"mode": "add", "documentId": "bad", "documentUrl": "junk.mp4"},
            ]
        },
    )
    assert r.status_code == 202, r.text
    assert "/ingestions/first" in r.headers["Operation-Location"]
    job = _wait(client, "clips", "first")
    assert job["state"] == "PartiallySucceeded"
    status = {d["documentId"]: d for d in job["fileStatusDetails"]}
    assert status["a"]["succeeded"] and status["b"]["succeeded"]
    assert not status["bad"]["succeeded"] and status["bad"]["error"]["code"] == "InvalidVideoFormat"
    assert [j["name"] for j in client.get(f"{BASE}/clips/ingestions?{P}").json()["value"]] == ["first"]

    docs = client.get(f"{BASE}/clips/documents?{P}").json()["value"]
    assert sorted(d["documentId"] for d in docs) == ["a", "b"]
    doc = client.get(f"{BASE}/clips/documents/a?{P}").json()
    assert doc["metadata"] == {"cameraId": "cam1"} and doc["duration"] == "00:00:06.0000000"

    r = client.post(f"{BASE}/clips:queryByText?{P}", json={"queryText": "a striped wall", "top": 5})
    assert r.status_code == 200, r.text
    hits = r.json()["value"]
    assert 1 <= len(hits) <= 5
    assert set(hits[0]) == {"documentId", "documentKind", "start", "end", "best", "relevance"}
    assert hits[0]["documentKind"] == "VideoFrame" and 0.0 <= hits[0]["relevance"] <= 1.0
    only_b = {"queryText": "x", "filters": {"documentIds": ["b"], "featureFilters": ["vision"]}}
    assert {
        h["documentId"] for h in client.post(f"{BASE}/clips:queryByText?{P}", json=only_b).json()["value"]
    } == {"b"}
    cam = {"queryText": "x", "filters": {"stringFilters": [{"fieldName": "cameraId", "values": ["cam1"]}]}}
    assert {
        h["documentId"] for h in client.post(f"{BASE}/clips:queryByText?{P}", json=cam).json()["value"]
    } == {"a"}

    # mode "update" changes the metadata only (Azure: "to reprocess the video, delete and recreate"); an unknown
    # document fails alone
    segments_before = client.get(f"{BASE}/clips/documents/a?{P}").json()
    r = client.put(
        f"{BASE}/clips/ingestions/meta?{P}",
        json={
            "videos": [
                {
                    "mode": "update",
                    "documentId": "a",
                    "documentUrl": "a.mp4",
                    "metadata": {"cameraId": "cam2"},
                },
                {
                    "mode": "update",
                    "documentId": "zz",
                    "documentUrl": "a.mp4",
                    "metadata": {"cameraId": "cam2"},
                },
            ]
        },
    )
    assert r.status_code == 202, r.text
    job = _wait(client, "clips", "meta")
    status = {d["documentId"]: d for d in job["fileStatusDetails"]}
    assert status["a"]["succeeded"] and not status["zz"]["succeeded"]
    assert status["zz"]["error"]["code"] == "NotFound"
    doc = client.get(f"{BASE}/clips/documents/a?{P}").json()
    assert doc["metadata"] == {"cameraId": "cam2"}
    assert (
        doc["duration"] == segments_before["duration"]
        and doc["createdDateTime"] == segments_before["createdDateTime"]
    )
    cam2 = {"queryText": "x", "filters": {"stringFilters": [{"fieldName": "cameraId", "values": ["cam2"]}]}}
    assert {
        h["documentId"] for h in client.post(f"{BASE}/clips:queryByText?{P}", json=cam2).json()["value"]
    } == {"a"}

    r = client.post(
        f"{BASE}/clips:queryByImage?{P}&top=1", content=_png(pattern(5))
    )  # b's second shot: 2-4 s
    assert r.status_code == 200, r.text
    best = r.json()["value"][0]
    assert (best["documentId"], best["start"], best["end"]) == ("b", "00:00:02.0000000", "00:00:04.0000000")

    r = client.patch(f"{BASE}/clips?{P}", json={"userData": {"team": "y"}})
    assert r.status_code == 200 and r.json()["userData"] == {"team": "y"}
    names = [i["name"] for i in client.get(f"{BASE}?{P}").json()["value"]]
    assert "clips" in names
    assert client.delete(f"{BASE}/clips/documents/a?{P}").status_code == 204
    assert client.get(f"{BASE}/clips/documents/a?{P}").status_code == 404
    assert client.delete(f"{BASE}/clips?{P}").status_code == 204
    assert client.get(f"{BASE}/clips?{P}").status_code == 404


def test_image_indexes_keep_their_routes(client: TestClient) -> None:
    assert client.put(f"{BASE}/photos?{P}").status_code == 201  # no video body: an image index
    assert client.put(f"{BASE}/films?{P}", json={"features": [{"name": "vision"}]}).status_code == 201
    got = client.get(f"{BASE}/photos?{P}").json()
    assert got["name"] == "photos" and "documentCount" in got
    names = {i["name"] for i in client.get(f"{BASE}?{P}").json()["value"]}
    assert {"photos", "films"} <= names
    assert client.patch(f"{BASE}/photos?{P}", json={"userData": {}}).status_code in (404, 405)


@pytest.mark.parametrize(
    ("path", "method", "body", "status", "code"),
    [
        ("/v?", "put", {"features": [{"name": "audio"}]}, 400, "BadArgument"),
        ("/v?", "put", {"features": "vision"}, 400, "BadArgument"),
        ("/v?", "put", {"metadataSchema": {"fields": [{"name": "x", "type": "int"}]}}, 400, "BadArgument"),
        ("/idx/ingestions/j?", "put", {"videos": []}, 400, "BadArgument"),
        ("/idx/ingestions/j?", "put", {"includeSpeechTranscript": "yes", "videos": [{"documentUrl": "x"}]}, 400, "BadArgument"),
        ("/idx:queryByText?", "post", {"queryText": "x", "filters": {"featureFilters": ["audio"]}}, 400, "BadArgument"),
        ("/idx/ingestions/j?", "put", {"videos": [{"mode": "add"}]}, 400, "BadArgument"),
        ("/idx/ingestions/j?", "put", {"videos": [{"mode": "zap", "documentUrl": "x"}]}, 400, "BadArgument"),
        ("/idx/ingestions/j?", "put", {"videos": [{"documentUrl": "ftp://h/x.mp4"}]}, 202, None),
        ("/idx:queryByText?", "post", {"queryText": ""}, 400, "InvalidRequest"),
        ("/idx:queryByText?", "post", {"queryText": "x", "top": 0}, 400, "BadArgument"),
        ("/idx:queryByText?", "post", {"queryText": "x", "filters": {"documentIds": "a"}}, 400, "BadArgument"),
        ("/idx/ingestions/nope?", "get", None, 404, "NotFound"),
        ("/idx/documents/nope?", "get", None, 404, "NotFound"),
    ],
)  # fmt: skip
def test_bad_requests_get_azure_errors(
    client: TestClient, path: str, method: str, body: Any, status: int, code: str | None
) -> None:
    assert client.put(f"{BASE}/idx?{P}", json={"features": [{"name": "vision"}]}).status_code == 201
    r = client.request(method.upper(), f"{BASE}{path}{P}", json=body)
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["error"]["innererror"]["code"] == code
    else:
        job = _wait(client, "idx", "j")
        assert job["state"] == "Failed" and job["fileStatusDetails"][0]["error"]["code"] == "BadArgument"


def test_unfinished_ingestions_resume_after_a_restart(settings: Settings, videos: dict[str, Path]) -> None:
    from imagelens.video.jobs import parse_ingestion
    from imagelens.video.store import open_video_index

    with _client(settings) as client:
        assert client.put(f"{BASE}/keep?{P}", json={"features": [{"name": "vision"}]}).status_code == 201
    # What a server killed mid-ingestion leaves: the job "Running", document "a" done, "b" not started.
    request = parse_ingestion(
        {"videos": [{"documentId": "a", "documentUrl": "a.mp4"}, {"documentId": "b", "documentUrl": "b.mp4"}]}
    )
    index = open_video_index(settings, "keep")
    done = [{"documentId": "a", "documentUrl": "a.mp4", "succeeded": True, "lastUpdatedTime": "t"}]
    index.save_ingestion("crashed", "Running", request, done)
    index.close()
    with _client(settings) as client:  # start-up resumes it
        job = _wait(client, "keep", "crashed")
        assert job["state"] == "Completed"
        assert [d["documentId"] for d in job["fileStatusDetails"]] == ["a", "b"]
        docs = [d["documentId"] for d in client.get(f"{BASE}/keep/documents?{P}").json()["value"]]
        assert docs == ["b"]  # "a" was recorded done before the crash: skipped, not re-ingested
