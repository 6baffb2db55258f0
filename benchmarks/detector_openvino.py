"""The detector in OpenVINO (f32, the default where it is installed; bf16, opt-in) against torch fp32, on the
full-size random RT-DETRv2-S (batch norms calibrated, so scores do not tie) and COCO photos.

    python -m imagelens.testing.full_size_models /tmp/full --only rtdetr-v2-r18
    .venv/bin/python benchmarks/detector_openvino.py --model-dir /tmp/full [--images 8] [--rounds 3]

Each runtime is loaded through the adapter (``IMAGELENS_DETECTOR_RUNTIME`` / ``_PRECISION``) in this process; the
per-image network time (``forward``) is measured interleaved, image by image, so the machine's load falls on all
alike. Agreement with torch: of the 20 best (query, class) pairs at threshold 0, how many are the same query and
class, their boxes' IoU and their score difference. Results: ``benchmarks/perf_targets.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

COCO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco_val2017_first128" / "images"
MODEL_ID = "rtdetr-v2-r18"
RUNTIMES = {
    "torch": ("torch", "f32"),
    "openvino-f32": ("openvino", "f32"),
    "openvino-auto": ("openvino", "auto"),
}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: every core)")
    args = parser.parse_args()

    import torch

    from imagelens.io import load_image
    from imagelens.models.adapters import detr_openvino
    from imagelens.models.adapters.rtdetr import RTDetrAdapter
    from imagelens.models.catalog import CATALOG
    from imagelens.models.threads import budget

    torch.set_num_threads(budget(args.threads))
    adapters = {}
    for name, (runtime, precision) in RUNTIMES.items():
        os.environ[detr_openvino.RUNTIME_ENV], os.environ[detr_openvino.PRECISION_ENV] = runtime, precision
        t0 = time.perf_counter()
        adapters[name] = RTDetrAdapter.load(args.model_dir / MODEL_ID, CATALOG[MODEL_ID])
        network = adapters[name].network
        kind = network.precision if network is not None else "fp32"
        print(f"{name}: loaded in {time.perf_counter() - t0:.1f} s, arithmetic {kind}", flush=True)
    images = [load_image(p).array() for p in sorted(COCO.glob("*.jpg"))[: args.images]]
    times: dict[str, list[float]] = {name: [] for name in adapters}
    for adapter in adapters.values():  # warm-up
        adapter.forward(*adapter.preprocess(images[0]))
    for _ in range(args.rounds):
        for rgb in images:
            for name, adapter in adapters.items():
                pixels = adapter.preprocess(rgb)
                t0 = time.perf_counter()
                adapter.forward(*pixels)
                times[name].append(time.perf_counter() - t0)
    print(f"load average {os.getloadavg()[0]:.1f}; {torch.get_num_threads()} torch threads")
    base = statistics.median(times["torch"])
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:14s} {median:.3f} s per image (min {min(values):.3f}, max {max(values):.3f}), x{base / median:.2f}"
        )
    for name in ("openvino-f32", "openvino-auto"):
        same, ious, score_diff = [], [], []
        for rgb in images:
            a = adapters["torch"].detect(rgb, threshold=0.0).head(20)
            b = adapters[name].detect(rgb, threshold=0.0).head(20)
            pairs_b = {
                (int(q), int(c)): i for i, (q, c) in enumerate(zip(b.data["query"], b.class_ids, strict=True))
            }
            for i, (q, c) in enumerate(zip(a.data["query"], a.class_ids, strict=True)):
                j = pairs_b.get((int(q), int(c)))
                same.append(j is not None)
                if j is not None:
                    ious.append(iou(a.boxes[i], b.boxes[j]))
                    score_diff.append(abs(float(a.scores[i]) - float(b.scores[j])))
        print(
            f"{name}: top-20 pairs also in torch's top 20 {np.mean(same):.1%}; of those, box IoU min "
            f"{min(ious, default=float('nan')):.4f}, score difference max {max(score_diff, default=float('nan')):.2e}"
        )


if __name__ == "__main__":
    main()
