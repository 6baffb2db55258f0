"""Batch throughput: the local pool (1 worker in-process, 2 worker processes) against Ray Data actor pools of 1 and 2
actors, on one cheap feature set (color + smartCrops: no weights) and one model (background removal with the real
mediapipe-selfie-seg TFLite model), over the same COCO photos.

    IMAGELENS_MODEL_DIR=../shared/models python benchmarks/batch_throughput.py [--folder DIR] [--images 128]

Each configuration writes a fresh JSONL (nothing to resume). Times are wall clock of the whole run as a user sees it
(worker/actor start and model load included); Ray's cluster start (``ray.init``) is timed once, separately, and is
not in the per-run figures. Prints one JSON line per run and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

IMAGES = "../shared/data/coco_val2017_first128/images"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=IMAGES, help="a folder of JPEG photos (default: %(default)s)")
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--only", choices=("cheap", "model"), default=None)
    args = parser.parse_args()

    import ray

    from imagelens.batch.local import LocalEngine
    from imagelens.batch.ray_engine import RayEngine
    from imagelens.batch.runner import run_batch
    from imagelens.batch.tasks import BatchTask
    from imagelens.config import Settings

    files = sorted(str(p.resolve()) for p in Path(args.folder).glob("*.jpg"))[: args.images]
    if not files:
        raise SystemExit(f"no .jpg under {args.folder}")
    settings = Settings()
    tasks = {
        "cheap": BatchTask("analyze", settings=settings, features=("color", "smartCrops")),
        "model": BatchTask("remove-bg", settings=settings),
    }
    if args.only:
        tasks = {args.only: tasks[args.only]}
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_init_s = time.perf_counter() - t0
    print(json.dumps({"ray_init_s": round(ray_init_s, 2), "load1": os.getloadavg()[0]}), flush=True)
    engines = {
        "local x1": lambda: LocalEngine(1),
        "local x2": lambda: LocalEngine(2),
        "ray x1": lambda: RayEngine(1),
        "ray x2": lambda: RayEngine(2),
    }
    results: dict[tuple[str, str], float] = {}
    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    try:
        for task_name, task in tasks.items():
            for engine_name, make in engines.items():
                best = float("inf")
                for r in range(args.repeat):
                    out = work / f"{task_name}-{engine_name.replace(' ', '')}-{r}.jsonl"
                    load = os.getloadavg()[0]
                    report = run_batch(task, files, out, make(), chunk_size=args.chunk_size)
                    assert report.ok == len(files), report.as_dict()
                    best = min(best, report.seconds)
                    row = {"task": task_name, "engine": engine_name, "seconds": round(report.seconds, 2)}
                    row |= {"ips": round(len(files) / report.seconds, 2), "load1_before": load}
                    print(json.dumps(row), flush=True)
                results[(task_name, engine_name)] = best
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(files)} images, chunk {args.chunk_size}, ray.init {ray_init_s:.1f} s (not included)\n")
    print("| work | engine | seconds | images/s | vs local x2 |")
    print("|---|---|---|---|---|")
    for (task_name, engine_name), seconds in results.items():
        base = results[(task_name, "local x2")]
        print(
            f"| {task_name} | {engine_name} | {seconds:.1f} | {len(files) / seconds:.1f} | {base / seconds:.2f} |"
        )


if __name__ == "__main__":
    main()
