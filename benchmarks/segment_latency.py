"""Latency and peak memory of background removal per image, at 640x480 and 4000x3000, per refinement.

    IMAGELENS_MODEL_DIR=DIR python benchmarks/segment_latency.py [--model mediapipe-selfie-seg] [--repeat 5]

DIR holds ``mediapipe-selfie-seg/selfie_segmentation.tflite`` (and ``deeplabv3-pascal/...``): ``imagelens models pull``
or links to ../shared/models. Each (size, refine) runs in a fresh process so its peak RSS is its own. The image is a
COCO photo (mini79 000000501368.jpg) resized to the size; the load (decode) is excluded, the PNG encode included.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

SIZES = ((640, 480), (4000, 3000))
REFINES = ("none", "guided", "pymatting")
IMAGE = "../shared/data/coco_val2017_mini79/images/000000501368.jpg"


def one(model: str, size: tuple[int, int], refine: str, repeat: int, image: str) -> dict[str, object]:
    import cv2
    import numpy as np

    from imagelens.analyzer import Analyzer
    from imagelens.io import load_image
    from imagelens.segment import SegmentOptions

    rgb = np.asarray(cv2.resize(load_image(image).array(), size, interpolation=cv2.INTER_CUBIC))
    analyzer = Analyzer()
    loaded = analyzer.load(rgb)
    options = SegmentOptions(refine=refine, model_id=model)  # type: ignore[arg-type]
    analyzer.remove_background(loaded, options)  # warm-up (model load, numba JIT for pymatting)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        _, result = analyzer.remove_background(loaded, options)
        result.png()
        times.append((time.perf_counter() - t0) * 1000.0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "model": model,
        "size": f"{size[0]}x{size[1]}",
        "refine": refine,
        "median_ms": round(sorted(times)[len(times) // 2], 1),
        "model_ms": round(result.timings_ms["model"], 1),
        "refine_ms": round(result.timings_ms["refine"], 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "rss_growth_after_warmup_mb": round((peak - base) / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mediapipe-selfie-seg")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--image", default=IMAGE)
    parser.add_argument("--one", nargs=3, metavar=("W", "H", "REFINE"))
    args = parser.parse_args()
    if args.one:
        w, h, refine = args.one
        print(json.dumps(one(args.model, (int(w), int(h)), refine, args.repeat, args.image)))
        return 0
    for w, h in SIZES:
        for refine in REFINES:
            cmd = [
                sys.executable,
                __file__,
                "--model",
                args.model,
                "--repeat",
                str(args.repeat),
                "--image",
                args.image,
                "--one",
                str(w),
                str(h),
                refine,
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            print(
                done.stdout.strip() or f"{w}x{h} {refine}: failed: {done.stderr.strip()[-300:]}", flush=True
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
