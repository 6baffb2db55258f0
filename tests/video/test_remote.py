"""Video URLs are streamed to disk through the SSRF guard: bounded memory, byte cap, deadline, disk space, redirects
re-checked. A real loopback HTTP server; the guard is relaxed for loopback only where a test says so."""

from __future__ import annotations

import http.server
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelens.config import Settings
from imagelens.errors import ImageLensError
from imagelens.io.url import Address
from imagelens.video.settings import VideoSettings
from imagelens.video.source import (
    InsufficientStorageError,
    InvalidVideoUrlError,
    VideoTooLargeError,
    video_file,
)
from imagelens.video.write import write_slideshow
from tests.video.conftest import pattern

BIG = 48 * 1024 * 1024  # streamed in 1 MiB chunks, chunked transfer encoding (no Content-Length)
_BLOCK = bytes(range(256)) * 4096


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    video: bytes = b""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(BIG // len(_BLOCK)):
                self.wfile.write(b"%x\r\n" % len(_BLOCK) + _BLOCK + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/declared":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024**3))
            self.end_headers()
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.01)
        elif self.path == "/private":
            self.send_response(302)
            self.send_header("Location", "http://10.1.2.3/video.mp4")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/clip.mp4":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.video)))
            self.end_headers()
            self.wfile.write(self.video)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _loopback(address: Address) -> bool:
    return address.is_loopback


def _settings(tmp_path: Path, allow_private: bool = True) -> Settings:
    return Settings(store_dir=tmp_path / "store", allow_private_urls=allow_private)


def test_a_big_chunked_body_is_streamed_to_disk_not_memory(server: str, tmp_path: Path) -> None:
    video = VideoSettings(fetch_dir=tmp_path / "dl", fetch_min_free_bytes=0)
    tracemalloc.start()
    try:
        with video_file(f"{server}/big", _settings(tmp_path), video) as path:
            _, peak = tracemalloc.get_traced_memory()
            size = path.stat().st_size
            assert path.parent.parent == tmp_path / "dl"
            with path.open("rb") as f:
                assert f.read(len(_BLOCK)) == _BLOCK
    finally:
        tracemalloc.stop()
    assert size == BIG
    assert peak < 4 * 1024 * 1024, f"{peak:,} bytes held for a {BIG:,}-byte body"  # the old fetch held it all
    assert not path.exists() and list((tmp_path / "dl").iterdir()) == []  # the temporary file is gone


def test_over_the_byte_cap_is_a_clear_400(server: str, tmp_path: Path) -> None:
    small = VideoSettings(max_fetch_bytes=1024 * 1024, fetch_dir=tmp_path / "dl", fetch_min_free_bytes=0)
    for path in ("/big", "/declared"):  # cut while streaming; refused from Content-Length before any byte
        with (
            pytest.raises(VideoTooLargeError) as caught,
            video_file(f"{server}{path}", _settings(tmp_path), small),
        ):
            pass
        assert caught.value.status == 400 and caught.value.inner_code == "InvalidVideoSize"
        assert (
            "1,048,576 bytes" in caught.value.message
            and "IMAGELENS_VIDEO_MAX_FETCH_BYTES" in caught.value.message
        )
    assert list((tmp_path / "dl").iterdir()) == []  # partial downloads removed


def test_the_deadline_bounds_the_whole_download(server: str, tmp_path: Path) -> None:
    quick = VideoSettings(fetch_deadline_s=0.5, fetch_dir=tmp_path / "dl", fetch_min_free_bytes=0)
    started = time.monotonic()
    with (
        pytest.raises(InvalidVideoUrlError) as caught,
        video_file(f"{server}/slow", _settings(tmp_path), quick),
    ):
        pass
    assert time.monotonic() - started < 5
    assert (
        caught.value.detail["reason"] == "timeout"
        and "IMAGELENS_VIDEO_FETCH_DEADLINE_S" in caught.value.message
    )


def test_short_disk_space_is_a_clear_507(server: str, tmp_path: Path) -> None:
    greedy = VideoSettings(fetch_min_free_bytes=10**18, fetch_dir=tmp_path / "dl")
    with (
        pytest.raises(InsufficientStorageError) as caught,
        video_file(f"{server}/big", _settings(tmp_path), greedy),
    ):
        pass
    assert caught.value.status == 507 and "IMAGELENS_VIDEO_FETCH_MIN_FREE_BYTES" in caught.value.message


def test_the_ssrf_guard_still_applies(server: str, tmp_path: Path) -> None:
    video = VideoSettings(fetch_dir=tmp_path / "dl", fetch_min_free_bytes=0)
    # loopback allowed, but the redirect to a private address is refused (re-checked at each hop)
    with (
        pytest.raises(InvalidVideoUrlError) as caught,
        video_file(f"{server}/private", _settings(tmp_path, allow_private=False), video, _loopback),
    ):
        pass
    assert caught.value.detail["reason"] == "address_refused" and "Video URL" in caught.value.message
    # the default policy refuses loopback itself
    with (
        pytest.raises(ImageLensError) as caught,
        video_file(f"{server}/big", _settings(tmp_path, allow_private=False), video),
    ):
        pass
    assert caught.value.detail["reason"] == "address_refused"


def test_an_ingestion_by_url_streams_and_indexes(
    server: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from imagelens.api.app import create_app

    monkeypatch.setenv("IMAGELENS_VIDEO_FETCH_MIN_FREE_BYTES", "0")  # whatever the test machine's free space

    clip = tmp_path / "clip.mp4"
    write_slideshow(clip, [(pattern(1), 1.0), (pattern(2), 1.0)], fps=10)
    _Handler.video = clip.read_bytes()
    base, p = "/computervision/retrieval/indexes", "api-version=2023-05-01-preview"
    with TestClient(create_app(settings.model_copy(update={"allow_private_urls": True}))) as client:
        assert client.put(f"{base}/web?{p}", json={"features": [{"name": "vision"}]}).status_code == 201
        body = {"videos": [{"mode": "add", "documentId": "c", "documentUrl": f"{server}/clip.mp4"}]}
        body["videos"].append({"mode": "add", "documentId": "gone", "documentUrl": f"{server}/missing.mp4"})
        assert client.put(f"{base}/web/ingestions/i1?{p}", json=body).status_code == 202
        for _ in range(300):
            job = client.get(f"{base}/web/ingestions/i1?{p}").json()
            if job["state"] not in ("NotStarted", "Running"):
                break
            time.sleep(0.05)
        details = {d["documentId"]: d for d in job["fileStatusDetails"]}
        assert job["state"] == "PartiallySucceeded"
        assert details["c"]["succeeded"] and details["c"]["segments"] >= 1
        assert (
            details["gone"]["error"]["code"] == "InvalidVideoUrl"
            and "404" in details["gone"]["error"]["message"]
        )
