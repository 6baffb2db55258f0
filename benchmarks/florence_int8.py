"""Florence-2 fp32 vs int8 (dynamic, Linear layers) in ONE process, interleaved run by run (same machine load).

    python benchmarks/florence_int8.py --model-dir /tmp/full [--runs 5]

Per run: encode the 640x480 photo once, then caption (20 tokens) and dense captions (60 tokens), greedy; the
full-size random model from ``imagelens.testing.full_size_models``. Prints medians (min, max) and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_targets import IMAGE  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from imagelens.io import load_image
    from imagelens.models.adapters.florence2 import CAPTION_TASK, DENSE_TASK, Florence2Adapter
    from imagelens.models.catalog import CATALOG

    spec = CATALOG["florence-2-base"]
    folder = args.model_dir / spec.id
    models = {
        "fp32": Florence2Adapter.load(folder, spec),
        "int8": Florence2Adapter.load(folder, replace(spec, options={**spec.options, "quantize": "int8-dynamic"})),
    }
    rgb = load_image(IMAGE).array()

    def once(model: Florence2Adapter) -> float:
        t0 = time.perf_counter()
        encoding = model.encode(rgb)
        model.generate(encoding, CAPTION_TASK, 20)
        model.generate(encoding, DENSE_TASK, 60)
        return time.perf_counter() - t0

    for model in models.values():
        once(model)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in models}
    loads = []
    for _ in range(args.runs):
        loads.append(os.getloadavg()[0])
        for name, model in models.items():
            times[name].append(once(model))
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})")
    ratio = statistics.median(times["fp32"]) / statistics.median(times["int8"])
    print(f"speed-up (medians) {ratio:.2f}x; load {min(loads):.1f}-{max(loads):.1f}; runs {args.runs}")


if __name__ == "__main__":
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
