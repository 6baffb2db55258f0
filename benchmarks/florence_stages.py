"""Florence-2 per stage, fp32 vs int8 modes, interleaved in one process: process CPU seconds and wall of the vision
encoding, the caption (20 tokens) and the dense captions (60 tokens); token agreement and feature cosine vs the first.

    python benchmarks/florence_stages.py --model-dir /tmp/full --runs 3 \\
        --modes fp32,int8-dynamic,int8-dynamic-per-channel [--threads N]

Process CPU (``time.process_time``: every thread) is the figure to read on a shared machine; wall depends on the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_targets import IMAGE  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="fp32,int8-dynamic,int8-dynamic-per-channel")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import torch

    from imagelens.io import load_image
    from imagelens.models.adapters.florence2 import CAPTION_TASK, DENSE_TASK, Florence2Adapter
    from imagelens.models.catalog import CATALOG

    if args.threads:
        torch.set_num_threads(args.threads)
    modes = args.modes.split(",")
    spec = CATALOG["florence-2-base"]

    def load(mode: str) -> Florence2Adapter:
        own = spec if mode == "fp32" else replace(spec, options={**spec.options, "quantize": mode})
        return Florence2Adapter.load(args.model_dir / spec.id, own)

    models = {m: load(m) for m in modes}
    rgb = load_image(IMAGE).array()
    keys = ("encode", "caption", "dense")
    cpu: dict[str, dict[str, list[float]]] = {m: {k: [] for k in keys} for m in models}
    wall: dict[str, dict[str, list[float]]] = {m: {k: [] for k in keys} for m in models}
    outs: dict[str, Any] = {}
    loads = []
    for i in range(args.runs + 1):  # the first round is a warm-up
        loads.append(os.getloadavg()[0])
        for mode, model in models.items():
            c0, w0 = time.process_time(), time.perf_counter()
            enc = model.encode(rgb)
            c1, w1 = time.process_time(), time.perf_counter()
            cap = model.generate(enc, CAPTION_TASK, 20)
            c2, w2 = time.process_time(), time.perf_counter()
            den = model.generate(enc, DENSE_TASK, 60)
            c3, w3 = time.process_time(), time.perf_counter()
            feats = enc.features.pooler_output if hasattr(enc.features, "pooler_output") else enc.features[0]
            outs[mode] = (feats.float().numpy().ravel(), cap.token_ids, den.token_ids)
            if i == 0:
                continue
            for k, c, w in zip(keys, (c1 - c0, c2 - c1, c3 - c2), (w1 - w0, w2 - w1, w3 - w2), strict=True):
                cpu[mode][k].append(c)
                wall[mode][k].append(w)
    print(
        f"runs {args.runs}, torch threads {torch.get_num_threads()}, load {min(loads):.1f}-{max(loads):.1f}"
    )
    print("| mode | encode CPU s | caption 20 tok CPU s | dense 60 tok CPU s | total CPU s | total wall s |")
    print("|---|---|---|---|---|---|")
    for mode in models:
        med = {k: statistics.median(cpu[mode][k]) for k in keys}
        total_wall = sum(statistics.median(wall[mode][k]) for k in keys)
        print(
            f"| {mode} | {med['encode']:.2f} | {med['caption']:.2f} | {med['dense']:.2f} | "
            f"{sum(med.values()):.2f} | {total_wall:.2f} |"
        )
    ref = outs[modes[0]]
    for mode in modes[1:]:
        f, c, d = outs[mode]
        cos = float(ref[0] @ f / (np.linalg.norm(ref[0]) * np.linalg.norm(f)))
        same_c = sum(a == b for a, b in zip(ref[1], c, strict=False))
        same_d = sum(a == b for a, b in zip(ref[2], d, strict=False))
        print(
            f"{mode} vs {modes[0]}: features cosine {cos:.5f}, caption tokens same {same_c}/{len(ref[1])}, "
            f"dense tokens same {same_d}/{len(ref[2])}"
        )


if __name__ == "__main__":
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
