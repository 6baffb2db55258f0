"""The all-features call with torch's intra-op threads at 1 vs 2 (2 analysis workers), interleaved in one process.

    python benchmarks/allfeat_threads.py --model-dir /tmp/full --runs 3 [--configs int8:1,int8:2] [--features ...]

A config is ``QUANT:THREADS``: QUANT ``int8`` (the default list) or ``fp32``; THREADS the torch intra-op threads
set before each call (``IMAGELENS_TORCH_THREADS``). One hub per QUANT, shared by its configs; one warm-up call each,
then the configs alternate run by run. Prints wall and process CPU (every thread) per call, medians (min, max).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_targets import FEATURES, IMAGE  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--configs", default="int8:1,int8:2")
    parser.add_argument("--features", default=",".join(FEATURES))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from imagelens.analyzer import Analyzer
    from imagelens.config import HubSettings, Settings
    from imagelens.models.hub import ModelHub

    features = tuple(args.features.split(","))
    hubs: dict[str, ModelHub] = {}
    analyzers: dict[str, Analyzer] = {}
    for config in args.configs.split(","):
        quant, threads = config.split(":")
        if quant not in hubs:
            quantize = "none" if quant == "fp32" else "default"
            hubs[quant] = ModelHub(
                Settings(model_dir=args.model_dir, hub=HubSettings(offline=True, quantize=quantize))
            )
        settings = Settings(model_dir=args.model_dir, workers=2, torch_threads=int(threads))
        analyzers[config] = Analyzer(settings, hub=hubs[quant])
    for analyzer in analyzers.values():
        analyzer.analyze(IMAGE, features)  # warm-up
    walls: dict[str, list[float]] = {c: [] for c in analyzers}
    cpus: dict[str, list[float]] = {c: [] for c in analyzers}
    loads = []
    for _ in range(args.runs):
        loads.append(os.getloadavg()[0])
        for config, analyzer in analyzers.items():
            c0, w0 = time.process_time(), time.perf_counter()
            result = analyzer.analyze(IMAGE, features)
            walls[config].append(time.perf_counter() - w0)
            cpus[config].append(time.process_time() - c0)
            split = {k: round(v / 1000, 2) for k, v in result.timings_ms.items()}
            print(
                f"{config}: wall {walls[config][-1]:.2f} s, CPU {cpus[config][-1]:.2f} s {split}", flush=True
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load {min(loads):.1f}-{max(loads):.1f}, runs {args.runs}, peak RSS (all hubs) {rss:.0f} MB")
    for config in analyzers:
        w, c = walls[config], cpus[config]
        print(
            f"{config}: wall median {statistics.median(w):.2f} ({min(w):.2f}-{max(w):.2f}), "
            f"CPU median {statistics.median(c):.2f} ({min(c):.2f}-{max(c):.2f})"
        )


if __name__ == "__main__":
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
