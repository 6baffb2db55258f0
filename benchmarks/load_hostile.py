"""Load with hostile clients mixed in: does the server stay up, fast for the well-behaved, and flat in memory?

Starts ``imagelens serve`` on 127.0.0.1 (defaults, except ``--workers``), then runs two phases of ``--seconds`` each
with ``--clients`` closed-loop clients posting a small JPEG to ``features=smartCrops`` (no model needed):

  A. all clients well-behaved;
  B. ``--hostile`` of them replaced by hostile ones, cycling through: a body dripped one byte a second (slowloris),
     a progressive JPEG with 10,000 scans, a 500 MB Content-Length with no body, a 200 MB chunked upload, a 16-bit
     PNG header declaring 16000 x 16000 x 3 channels, JSON nested 100,000 deep, a 1.5 KB truncated 81 MP JPEG.

Reports per phase: answers by status, 5xx count, p50/p99 latency of the well-behaved 200s, server RSS (start, max,
end); and the p99 ratio B/A. A 429 is answered at once and the client waits its Retry-After, as a real client would.

    python benchmarks/load_hostile.py --clients 50 --seconds 60 --hostile 10
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PATH = "/computervision/imageanalysis:analyze?api-version=2024-02-01&features=smartCrops"


def jpeg(size: int = 128, progressive: bool = False) -> bytes:
    rng = np.random.default_rng(1)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
        out, "JPEG", progressive=progressive
    )
    return out.getvalue()


def many_scans(count: int) -> bytes:
    data = jpeg(64, progressive=True)
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * count + data[end:]


def png_header_bomb() -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", 15999, 15999, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


def truncated_big() -> bytes:
    data = jpeg(400)[:1500]
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + (9000).to_bytes(2, "big") * 2 + data[sof + 9 :] + b"\xff\xd9"


GOOD = jpeg()
BOMBS = [many_scans(10_000), png_header_bomb(), truncated_big()]
DEEP = b"[" * 100_000 + b"]" * 100_000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def send(port: int, head: bytes, body: bytes = b"", timeout: float = 120.0) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body)
        return read_status(sock)


def read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return 0
        data += chunk
    return int(data.split()[1])


def head(length: int | None, ctype: str = "image/jpeg", extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n{size}{extra}Connection: close\r\n\r\n".encode()


def hostile_once(port: int, kind: int) -> int:
    try:
        if kind == 0:  # slowloris body
            with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
                sock.sendall(head(len(GOOD)))
                for byte in GOOD[:30]:
                    sock.sendall(bytes([byte]))
                    time.sleep(1.0)
                return read_status(sock)
        if kind == 1:
            return send(port, head(len(BOMBS[0])), BOMBS[0])
        if kind == 2:  # huge Content-Length, no body
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(head(500 * 1024 * 1024))
                return read_status(sock)
        if kind == 3:  # 200 MB chunked
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(head(None))
                piece = b"%x\r\n" % (1 << 20) + b"\x00" * (1 << 20) + b"\r\n"
                try:
                    for _ in range(200):
                        sock.sendall(piece)
                except OSError:
                    pass
                return read_status(sock)
        if kind == 4:
            return send(port, head(len(BOMBS[1]), "image/png"), BOMBS[1])
        if kind == 5:
            return send(port, head(len(DEEP), "application/json"), DEEP)
        return send(port, head(len(BOMBS[2])), BOMBS[2])
    except OSError:
        return 0


def run_phase(port: int, pid: int, clients: int, hostile: int, seconds: float) -> dict[str, object]:
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    hostile_statuses: dict[str, int] = {}
    rss = [rss_mb(pid)]

    def good_client() -> None:
        while time.monotonic() < stop:
            started = time.monotonic()
            try:
                status = send(port, head(len(GOOD)), GOOD)
            except OSError:
                status = 0
            elapsed = time.monotonic() - started
            with lock:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status == 200:
                    latencies.append(elapsed)
            if status == 429:
                time.sleep(1.0)

    def bad_client(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop:
            status = hostile_once(port, rng.randrange(7))
            with lock:
                hostile_statuses[str(status)] = hostile_statuses.get(str(status), 0) + 1

    def sampler() -> None:
        while time.monotonic() < stop:
            rss.append(rss_mb(pid))
            time.sleep(0.5)

    threads = [threading.Thread(target=good_client) for _ in range(clients - hostile)]
    threads += [threading.Thread(target=bad_client, args=(k,)) for k in range(hostile)]
    threads.append(threading.Thread(target=sampler))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(2.0)
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    fives = sum(n for k, n in statuses.items() if k.startswith("5")) + sum(
        n for k, n in hostile_statuses.items() if k.startswith("5")
    )
    return {
        "good_statuses": statuses,
        "hostile_statuses": hostile_statuses,
        "5xx": fives,
        "good_200": len(latencies),
        "p50_s": round(p(0.50), 3),
        "p99_s": round(p(0.99), 3),
        "mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
        "rss_mb": {"start": round(rss[0]), "max": round(max(rss)), "end": round(rss_mb(pid))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--hostile", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGELENS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["IMAGELENS_WORKERS"] = str(args.workers)
    env["IMAGELENS_SERVER__LOG_FORMAT"] = "text"
    process = subprocess.Popen(
        [sys.executable, "-m", "imagelens.cli", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if (
                    send(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=2)
                    == 200
                ):
                    break
            except OSError:
                time.sleep(0.2)
        send(port, head(len(GOOD)), GOOD)  # warm
        a = run_phase(port, process.pid, args.clients, 0, args.seconds)
        print("A (well-behaved only):", json.dumps(a), flush=True)
        b = run_phase(port, process.pid, args.clients, args.hostile, args.seconds)
        print("B (with hostile):     ", json.dumps(b), flush=True)
        ratio = float(b["p99_s"]) / float(a["p99_s"])  # type: ignore[arg-type]
        print(
            f"p99 ratio B/A: {ratio:.2f}; 5xx: {a['5xx']} + {b['5xx']}; server alive: {process.poll() is None}"
        )
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    main()
