"""One real ``imagelens serve`` subprocess on 127.0.0.1 for the whole session (tiny random-weight models, a key,
private URLs allowed so that the loopback file server's images can be fetched), and that file server.

Microsoft's clients talk to it exactly as they talk to Azure: only the endpoint and the key change."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ..conftest import REPO, SAMPLE_IMAGE

KEY = "contract-key-1"


@dataclass(frozen=True)
class Server:
    url: str  # no trailing slash
    key: str
    data_dir: Path
    files_url: str  # the loopback file server
    files_dir: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("contract-files")
    (folder / "sample.png").write_bytes(SAMPLE_IMAGE.read_bytes())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def server(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, files: tuple[str, Path]
) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("contract-server")
    (root / "data").mkdir()
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IMAGELENS_") and k not in ("HF_HUB_OFFLINE", "PYTHONPATH")
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]),
        HF_HUB_OFFLINE="1",
        IMAGELENS_MODEL_DIR=str(tiny_model_dir),
        IMAGELENS_HUB__OFFLINE="true",
        IMAGELENS_API_KEYS=KEY,
        IMAGELENS_ALLOW_PRIVATE_URLS="true",
        IMAGELENS_DATA_DIR=str(root / "data"),
        IMAGELENS_STORE_DIR=str(root / "store"),
        IMAGELENS_TRAINING__ISOLATION="thread",
    )
    log = (root / "server.log").open("wb")
    command = [sys.executable, "-c", "from imagelens.cli import main; main()", "serve", "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(
                    f"imagelens serve did not start:\n{(root / 'server.log').read_text()[-4000:]}"
                )
            time.sleep(0.2)
        yield Server(url, KEY, root / "data", *files)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
