"""Local stand-ins for an unreachable or reachable Hub, and the CLI run as a user runs it. Nothing here contacts a
non-local address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")

#: Runs the CLI with some top-level modules made unimportable, as on an install without an extra: a meta-path finder
#: refuses them (``find_spec`` and ``import`` both fail), so nothing is uninstalled.
BLOCKING_MAIN = """
import sys

class _Blocked:
    def __init__(self, names):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Blocked(set(sys.argv[1].split(","))))
sys.argv = ["imagelens", *sys.argv[2:]]
from imagelens.cli import main

main()
"""


def closed_port_endpoint() -> str:
    """A loopback URL whose port nothing listens on (connections are refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@contextmanager
def blackhole() -> Iterator[str]:
    """A loopback URL that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


@contextmanager
def local_http(status: int) -> Iterator[str]:
    """A loopback URL answering every request with ``status`` and an empty JSON body."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b"{}"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)


def cli_env(env: dict[str, str] | None = None, unset: Iterable[str] = ()) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    full.update({"HF_HUB_OFFLINE": "1", **(env or {})})
    for name in unset:
        full.pop(name, None)
    return full


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    unset: Iterable[str] = (),
    block: Iterable[str] = (),
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """``imagelens ARGS`` in a subprocess (offline unless ``unset`` names HF_HUB_OFFLINE); ``block``: top-level
    modules made unimportable."""
    blocked = ",".join(block)
    command = (
        [sys.executable, "-c", BLOCKING_MAIN, blocked, *args]
        if blocked
        else [sys.executable, "-m", "imagelens.cli", *args]
    )
    return subprocess.run(
        command, capture_output=True, text=True, env=cli_env(env, unset), timeout=timeout, check=False
    )
