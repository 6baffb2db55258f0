"""The fault and abuse campaign of issue 11, replayed against a real ``imagelens serve`` on 127.0.0.1.

Each test asserts the answer (status and Azure's error code), a time bound and, where memory is the risk, a memory
bound on the server process (RSS back within 10 % of its value before the request).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.hardening.conftest import (
    ANALYZE,
    THUMBNAIL,
    Server,
    jpeg_bytes,
    many_scan_jpeg,
    png16,
    read_answer,
    request,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.timeout(180)


def inner_code(answer: object) -> str:
    return str(answer.json()["error"]["innererror"]["code"])  # type: ignore[attr-defined]


def test_a_good_request_still_works(server: Server) -> None:
    answer = request(server, "POST", ANALYZE, jpeg_bytes(), {"Content-Type": "application/octet-stream"})
    assert answer.status == 200, answer.body
    assert "smartCropsResult" in answer.json()
    assert answer.headers.get("apim-request-id")


# --- 1. deadlines, decode work ---------------------------------------------------------------------------------


def test_a_jpeg_with_thousands_of_scans_is_refused_before_decoding(server: Server) -> None:
    answer = request(
        server, "POST", ANALYZE, many_scan_jpeg(10_000), {"Content-Type": "application/octet-stream"}
    )
    assert answer.status == 400 and inner_code(answer) == "InvalidImageSize"
    assert "max_jpeg_scans" in answer.json()["error"]["message"]
    assert answer.seconds < 3.0


class _SlowImage(BaseHTTPRequestHandler):
    delay_s = 3.0
    image = b""

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(self.delay_s)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.image)))
        self.end_headers()
        self.wfile.write(self.image)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture()
def slow_url() -> Iterator[tuple[str, type[_SlowImage]]]:
    handler = type("Handler", (_SlowImage,), {"image": jpeg_bytes(), "delay_s": 3.0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/slow.jpg", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.slow
def test_over_the_deadline_answers_azure_timeout_not_5xx(
    server: Server, slow_url: tuple[str, type[_SlowImage]]
) -> None:
    url, handler = slow_url
    handler.delay_s = 8.0  # longer than the 4 s deadline
    body = json.dumps({"url": url}).encode()
    answer = request(server, "POST", ANALYZE, body, {"Content-Type": "application/json"})
    assert answer.status == 408 and inner_code(answer) == "Timeout"
    assert 3.5 < answer.seconds < 6.5


@pytest.mark.slow
def test_slow_urls_do_not_stall_the_analysis_workers(
    server: Server, slow_url: tuple[str, type[_SlowImage]]
) -> None:
    url, _handler = slow_url  # 3 s each; the server has ONE analysis worker and two fetch threads
    body = json.dumps({"url": url}).encode()
    slow: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: slow.append(
                request(server, "POST", ANALYZE, body, {"Content-Type": "application/json"}).status
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    answer = request(server, "POST", ANALYZE, jpeg_bytes(), {"Content-Type": "application/octet-stream"})
    assert answer.status == 200
    assert answer.seconds < 2.0, f"an upload waited {answer.seconds:.1f} s behind two slow URL fetches"
    for thread in threads:
        thread.join(timeout=30)
    assert slow == [200, 200]


# --- 2, 6. lists and JSON ------------------------------------------------------------------------------------------


def test_a_huge_planogram_is_refused_naming_the_limit(server: Server) -> None:
    positions = [{"id": f"p{i}", "productId": "a", "fixtureId": "f", "x": 1, "y": 1} for i in range(6000)]
    body = json.dumps({"planogram": {"width": 10, "height": 10, "positions": positions}}).encode()
    before = server.rss_mb()
    answer = request(
        server,
        "POST",
        "/computervision/planogramcompliance:match?api-version=2023-04-01-preview",
        body,
        {"Content-Type": "application/json"},
    )
    assert answer.status == 400
    assert "requests.max_list_items" in answer.json()["error"]["message"]
    assert answer.seconds < 2.0
    assert server.rss_mb() < before * 1.1


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        (b"[" * 5000 + b"]" * 5000, "max_json_depth"),
        (b'{"url": ' + b"9" * 5000 + b"}", "max_number_chars"),
        (b'{"a": [' + b"1," * 5000 + b"1]}", "max_list_items"),
    ],
    ids=["deep", "huge-integer", "long-list"],
)
def test_hostile_json_is_a_400(server: Server, body: bytes, limit: str) -> None:
    for path in (ANALYZE, "/computervision/planogramcompliance:match?api-version=2023-04-01-preview"):
        answer = request(server, "POST", path, body, {"Content-Type": "application/json"})
        assert answer.status == 400, answer.body
        assert limit in answer.json()["error"]["message"]


# --- 3. admission and Content-Length before the body ---------------------------------------------------------------


def test_an_oversized_content_length_is_refused_before_the_body(server: Server) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"POST {ANALYZE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {500 * 1024 * 1024}\r\n\r\n".encode()
        )  # and no body at all: the answer must not wait for it
        answer = read_answer(sock, started)
    assert answer.status == 400 and inner_code(answer) == "InvalidImageSize"
    assert "20971520" in answer.json()["error"]["message"]
    assert answer.seconds < 1.0


def test_a_chunked_upload_is_cut_at_the_cap(server: Server) -> None:
    before = server.rss_mb()
    started = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"POST {ANALYZE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b"\xff" * (1 << 20)
        try:
            while sent < 200 * (1 << 20):  # 200 MB offered; the server must stop at ~20 MB
                sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                sent += len(piece)
        except OSError:
            pass
        answer = read_answer(sock, started)
    assert answer.status == 400 and inner_code(answer) == "InvalidImageSize"
    assert sent < 60 * (1 << 20), f"the server read {sent >> 20} MB"
    assert server.rss_mb() < before * 1.1 + 25


def test_admission_429_comes_before_the_body(server: Server) -> None:
    holders = []
    try:
        for _ in range(6):  # max_in_flight: 6 uploads that send their headers and then nothing
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(
                f"POST {ANALYZE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                "Content-Length: 1000000\r\n\r\nabc".encode()
            )
            holders.append(sock)
        time.sleep(0.3)
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                f"POST {ANALYZE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                "Content-Length: 20000000\r\n\r\n".encode()
            )
            answer = read_answer(sock, started)
        assert answer.status == 429 and answer.headers.get("retry-after") == "1"
        assert answer.seconds < 1.0
    finally:
        for sock in holders:
            sock.close()
    time.sleep(1.5)  # the held requests time out (body_timeout_s = 1) and leave
    assert request(server, "POST", ANALYZE, jpeg_bytes(), {"Content-Type": "image/jpeg"}).status == 200


# --- 4. multipart --------------------------------------------------------------------------------------------------


def _multipart(parts: list[tuple[str, bytes, bool]]) -> tuple[bytes, str]:
    boundary = "hardeningboundary"
    out = b""
    for name, payload, is_file in parts:
        disposition = f'form-data; name="{name}"' + ('; filename="x.jpg"' if is_file else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + payload + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_multipart_caps_and_no_temporary_files_left(server: Server) -> None:
    body, ctype = _multipart([(f"f{i}", b"x", False) for i in range(50)] + [("image", jpeg_bytes(), True)])
    answer = request(server, "POST", ANALYZE, body, {"Content-Type": ctype})
    assert answer.status == 400 and "max_multipart_parts" in answer.json()["error"]["message"]

    body, ctype = _multipart([("image", b"\xff" * (25 * 1024 * 1024), True)])
    answer = request(server, "POST", ANALYZE, body, {"Content-Type": ctype})
    assert answer.status == 400 and inner_code(answer) == "InvalidImageSize"

    body, ctype = _multipart([("image", jpeg_bytes(), True)])
    assert request(server, "POST", ANALYZE, body, {"Content-Type": ctype}).status == 200
    assert list((server.tmp / "spool").iterdir()) == []


# --- 5. URLs -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http:/../x.jpg", "https:x.jpg", "/etc/passwd", "file:///etc/passwd", "http://"]
)
def test_only_absolute_http_urls_with_a_host(server: Server, url: str) -> None:
    answer = request(
        server, "POST", ANALYZE, json.dumps({"url": url}).encode(), {"Content-Type": "application/json"}
    )
    assert answer.status == 400 and inner_code(answer) == "InvalidImageUrl"


# --- 8. slow clients -----------------------------------------------------------------------------------------------


def test_slow_headers_are_dropped(server: Server) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and the rest never comes
        assert sock.recv(100) == b""
    assert time.monotonic() - started < 3.0


def test_a_stalled_body_gets_a_timeout(server: Server) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"POST {ANALYZE} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n".encode()
            + jpeg_bytes()[:100]
        )
        answer = read_answer(sock, started)
    assert answer.status == 408 and inner_code(answer) == "Timeout"
    assert answer.seconds < 3.0


def test_a_client_disconnect_logs_no_traceback(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"POST {ANALYZE} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\nab".encode()
        )
        time.sleep(0.2)
    time.sleep(0.5)
    assert request(server, "GET", "/health").status == 200
    assert "Traceback" not in server.log()


# --- 10. memory ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_16_bit_9000_square_png_is_bounded_and_memory_returns(tmp_path: Path) -> None:
    server = start_server(
        tmp_path, {"IMAGELENS_SERVER__DEADLINE_S": "120"}
    )  # decoding 81 MP takes a while here
    try:
        _check_png16(server)
    finally:
        stop_server(server)


def _check_png16(server: Server) -> None:
    grey = png16(9000, 9000, colour=0)  # 162 MB decoded: within the 256 MiB test budget
    request(server, "POST", THUMBNAIL, jpeg_bytes(), {"Content-Type": "image/jpeg"})  # warm
    before = server.rss_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], server.rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        answer = request(server, "POST", THUMBNAIL, grey, {"Content-Type": "image/png"})
    finally:
        done.set()
        sampler.join()
    assert answer.status == 200, answer.body
    after = server.rss_mb()
    settle = time.monotonic() + 3.0  # the request's objects go when its coroutine ends, just after the answer
    while after >= before * 1.10 and time.monotonic() < settle:
        time.sleep(0.1)
        after = server.rss_mb()
    assert peak[0] - before < 1200, f"peak {peak[0]:.0f} MB from {before:.0f} MB"
    assert after < before * 1.10, f"RSS {before:.0f} MB -> {after:.0f} MB"

    rgb = png16(9000, 9000, colour=2, rows=False)  # 486 MB decoded: over the budget, refused from the header
    answer = request(server, "POST", THUMBNAIL, rgb, {"Content-Type": "image/png"})
    assert answer.status == 400 and "max_decode_bytes" in answer.json()["error"]["message"]
    assert answer.seconds < 1.0


# --- low -----------------------------------------------------------------------------------------------------------


def test_a_truncated_jpeg_is_an_invalid_format(server: Server) -> None:
    answer = request(server, "POST", ANALYZE, jpeg_bytes(400)[:1500], {"Content-Type": "image/jpeg"})
    assert answer.status == 400 and inner_code(answer) == "InvalidImageFormat"


def test_operation_location_uses_the_public_base_url(server: Server) -> None:
    answer = request(
        server,
        "POST",
        "/vision/v3.2/read/analyze",
        jpeg_bytes(),
        {"Content-Type": "image/jpeg", "Host": "attacker.example"},
    )
    assert answer.status in (202, 429), answer.body
    if answer.status == 202:
        assert answer.headers["operation-location"].startswith("https://vision.example.test/vision/v3.2/")


# --- operable ------------------------------------------------------------------------------------------------------


def test_metrics_and_json_access_lines(server: Server) -> None:
    request(server, "POST", ANALYZE, jpeg_bytes(), {"Content-Type": "image/jpeg"})
    answer = request(server, "GET", "/metrics")
    assert answer.status == 200
    text = answer.body.decode()
    for name in (
        "imagelens_requests_total",
        "imagelens_request_duration_seconds_bucket",
        "imagelens_errors_total",
        "imagelens_queue_depth",
        "imagelens_admission_rejections_total",
        "imagelens_model_load_seconds",
        "process_resident_memory_bytes",
    ):
        assert name in text, name
    assert 'features="smartCrops"' in text
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith('{"apim-request-id"')]
    assert any(
        line["route"] == "/computervision/imageanalysis:analyze" and line["status"] == 200 for line in lines
    )
    assert 'route="/computervision/imageanalysis:analyze"' in text
    assert all({"apim-request-id", "route", "features", "status", "ms"} <= set(line) for line in lines)


def test_the_server_is_still_healthy_and_logged_no_traceback(server: Server) -> None:
    assert request(server, "GET", "/health").status == 200
    assert "Traceback" not in server.log(), server.log()[-3000:]
