"""Parity and speed of imagelens' detection mAP against pycocotools' COCOeval.

    .venv/bin/python benchmarks/metrics_parity.py [--trials 1000]

Reuses the random-case generator and the COCOeval reference of tests/customize/test_metrics_parity.py, then
times both on real ground truth (BCCD test split, COCO val2017 first 128) with synthetic detections.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from imagelens.customize.metrics import evaluate_coco_detection

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"


def _parity_module() -> Any:
    path = REPO / "tests" / "customize" / "test_metrics_parity.py"
    spec = importlib.util.spec_from_file_location("metrics_parity_cases", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_predictions(gt: dict[str, Any], seed: int = 0) -> list[dict[str, Any]]:
    """Per ground-truth box: a jittered copy (80 %) and sometimes a duplicate; plus random false positives."""
    rng = np.random.default_rng(seed)
    cats = [c["id"] for c in gt["categories"]]
    preds: list[dict[str, Any]] = []
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        for _ in range(int(rng.random() < 0.8) + int(rng.random() < 0.2)):
            j = rng.normal(0, 0.1, 4) * [w, h, w, h]
            preds.append({"image_id": a["image_id"], "category_id": a["category_id"],
                          "bbox": [x + j[0], y + j[1], max(w + j[2], 1.0), max(h + j[3], 1.0)],
                          "score": float(rng.random())})  # fmt: skip
    for im in gt["images"]:
        for _ in range(int(rng.integers(0, 6))):
            w, h = rng.uniform(5, 100, 2)
            preds.append({"image_id": im["id"], "category_id": int(rng.choice(cats)),
                          "bbox": [float(rng.uniform(0, 500)), float(rng.uniform(0, 400)), w, h],
                          "score": float(rng.random())})  # fmt: skip
    return preds


def time_real(name: str, gt_path: Path, module: Any) -> str:
    gt = json.loads(gt_path.read_text())
    preds = synthetic_predictions(gt)
    t0 = time.perf_counter()
    ours = evaluate_coco_detection(gt, preds)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        ref = module.reference(gt, preds)
    t_ref = (time.perf_counter() - t0) / 2  # reference() runs COCOeval twice (COCO thresholds, then 0.30)
    diff = max(abs(getattr(ours, k) - ref[k]) for k in ("map50_95", "map50", "map75", "map30"))
    return (
        f"| {name} | {len(gt['images'])} | {len(gt['annotations'])} | {len(preds)} | {ours.map50_95:.4f} | "
        f"{ref['map50_95']:.4f} | {diff:.1e} | {t_ours * 1000:.0f} ms | {t_ref * 1000:.0f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()
    module = _parity_module()
    t0 = time.perf_counter()
    worst = module.parity_over_random_trials(args.trials, seed=0)
    print(f"random trials: {args.trials} (seed 0), {time.perf_counter() - t0:.1f} s")
    print("| quantity | max abs(ours - COCOeval) |\n|---|---|")
    for key, label in (("map50_95", "AP@[.50:.95]"), ("map50", "AP50"), ("map75", "AP75"), ("map30", "AP30"),
                       ("precision", "precision[T,R,K] (every entry)")):  # fmt: skip
        print(f"| {label} | {worst[key]:.1e} |")
    print(
        "\n| ground truth | images | boxes | predictions | ours mAP | COCOeval mAP | max diff | ours | COCOeval |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, path in (
        ("BCCD test", DATA / "bccd_fewshot" / "annotations" / "instances_test.json"),
        (
            "COCO val2017 first 128",
            DATA / "coco_val2017_first128" / "annotations" / "instances_val2017_first128_from_yolo.json",
        ),
    ):
        if path.exists():
            print(time_real(name, path, module))


if __name__ == "__main__":
    main()
