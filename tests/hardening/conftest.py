"""A real ``imagelens serve`` subprocess on 127.0.0.1 with small limits, and helpers to talk to it byte by byte."""

from __future__ import annotations

import io
import os
import select
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SRC = Path(__file__).resolve().parents[2] / "src"

SERVER_ENV = {
    "IMAGELENS_SERVER__DEADLINE_S": "4",
    "IMAGELENS_SERVER__BODY_TIMEOUT_S": "1",
    "IMAGELENS_SERVER__HEADER_TIMEOUT_S": "1",
    "IMAGELENS_SERVER__MAX_IN_FLIGHT": "6",
    "IMAGELENS_SERVER__MAX_QUEUE": "4",
    "IMAGELENS_SERVER__FETCH_WORKERS": "2",
    "IMAGELENS_SERVER__PUBLIC_BASE_URL": "https://vision.example.test",
    "IMAGELENS_WORKERS": "1",
    "IMAGELENS_ALLOW_PRIVATE_URLS": "true",
    "IMAGELENS_LIMITS__MAX_DECODE_BYTES": str(256 * 1024 * 1024),
    "IMAGELENS_REQUESTS__MAX_LIST_ITEMS": "1000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    tmp: Path

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        raise RuntimeError("no VmRSS")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(tmp: Path, extra_env: dict[str, str] | None = None) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGELENS_")}
    env.update(SERVER_ENV)
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["TMPDIR"] = str(tmp / "spool")
    env["IMAGELENS_STORE_DIR"] = str(tmp / "store")
    (tmp / "spool").mkdir(parents=True, exist_ok=True)
    log_path = tmp / "server.log"
    with log_path.open("wb") as handle:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "imagelens.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", port, process, log_path, tmp)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("imagelens serve exited:\n" + server.log())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"GET /ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("imagelens serve did not start:\n" + server.log())


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("serve"))
    try:
        yield running
    finally:
        stop_server(running)


# --- raw HTTP ------------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> dict:  # type: ignore[type-arg]
        import json

        return json.loads(self.body)  # type: ignore[no-any-return]


def read_answer(sock: socket.socket, started: float, timeout: float = 30.0) -> Answer:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(status, headers, body, time.monotonic() - started)


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Answer:
    all_headers = {
        "Host": f"127.0.0.1:{server.port}",
        "Connection": "close",
        "Content-Length": str(len(body)),
    }
    all_headers.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items()) + "\r\n"
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1"))
        sent = 0
        while sent < len(body):  # like curl: stop sending once the server has answered
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(body[sent : sent + (1 << 20)])
            except OSError:
                break
            sent += 1 << 20
        return read_answer(sock, started, timeout)


ANALYZE = "/computervision/imageanalysis:analyze?api-version=2024-02-01&features=smartCrops"
THUMBNAIL = "/vision/v3.2/generateThumbnail?width=32&height=32&smartCropping=false"


# --- images --------------------------------------------------------------------------------------------------------


def jpeg_bytes(size: int = 96, progressive: bool = False) -> bytes:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, progressive=progressive)
    return out.getvalue()


def many_scan_jpeg(scans: int) -> bytes:
    """A progressive JPEG with its last scan repeated until it has ``scans`` scans."""
    data = jpeg_bytes(64, progressive=True)
    last = data.rindex(b"\xff\xda")
    end = data.rindex(b"\xff\xd9")
    extra = data[last:end] * (scans - data.count(b"\xff\xda"))
    return data[:end] + extra + data[end:]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    import struct

    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png16(width: int, height: int, colour: int = 0, rows: bool = True) -> bytes:
    """A 16-bit PNG of zeros (grey: colour 0, RGB: colour 2), compressed row by row (no big buffer)."""
    import struct

    channels = {0: 1, 2: 3}[colour]
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    comp = zlib.compressobj(6)
    row = b"\x00" + b"\x00" * (width * channels * 2)
    parts = [comp.compress(row) for _ in range(height if rows else 1)]
    idat = b"".join(parts) + comp.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )
