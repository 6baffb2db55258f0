"""Issue 19 target 4: requests/s of a cheap feature through ``imagelens serve`` on loopback, p99, server memory.

Starts ``imagelens serve`` (2 workers, start-up warm-up on, as shipped) on 127.0.0.1, waits until ``/ready`` answers
200, then runs ``--clients`` closed-loop clients posting a 128x128 JPEG to ``features=<feature>`` for ``--seconds``
(the machinery of ``benchmarks/load_hostile.py``: one connection per request, a 429 waits its Retry-After). Reports
answers by status, requests/s of 200s, p50/p99 latency, and the server's RSS at start, max and end of the phase.
Client and server share the machine's cores.

    python benchmarks/server_throughput.py --feature color --clients 8 --seconds 30   # 3.2 visualFeatures=Color
    python benchmarks/server_throughput.py --feature smartCrops --clients 8 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_hostile as lh  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feature", default="color")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--phases", type=int, default=2, help="phases back to back (memory flat across them?)")
    args = parser.parse_args()
    if args.feature == "color":  # Azure has colour in 3.2 only
        lh.PATH = "/vision/v3.2/analyze?visualFeatures=Color"
    else:
        lh.PATH = f"/computervision/imageanalysis:analyze?api-version=2024-02-01&features={args.feature}"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGELENS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(lh.ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["IMAGELENS_WORKERS"] = str(args.workers)
    env["IMAGELENS_SERVER__LOG_FORMAT"] = "text"
    env["HF_HUB_OFFLINE"] = "1"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "imagelens.cli", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready_s = None
        for _ in range(1500):
            try:
                get = b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                if lh.send(port, get, timeout=2) == 200:
                    ready_s = time.monotonic() - started
                    break
            except OSError:
                pass
            time.sleep(0.2)
        print(f"ready after {ready_s:.1f} s" if ready_s else "never ready", flush=True)
        lh.send(port, lh.head(len(lh.GOOD)), lh.GOOD)  # warm
        for phase in range(args.phases):
            result = lh.run_phase(port, process.pid, args.clients, 0, args.seconds)
            rps = int(result["good_200"]) / args.seconds  # type: ignore[call-overload]
            load = os.getloadavg()[0]
            print(json.dumps({"phase": phase + 1, "feature": args.feature, "req_per_s": round(rps, 1),
                              "load_1min": round(load, 1), **result}), flush=True)  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    main()
