"""Accuracy and speed of the small real CPU models, measured once with ``imagelens.evaluation`` (the code behind
``imagelens eval FEATURE``) on ../shared/data with the weights of ../shared/models.

    IMAGELENS_SHARED_DIR=/path/to/shared taskset -c 0,1 python benchmarks/eval_accuracy.py [--out DIR] [--only objects faces fewshot read segment latency]

Prints one JSON object per measurement (the ``imagelens eval --json`` shape) and writes the PR curve PNGs into
``--out``. The figures and the commands are recorded in benchmarks/eval_accuracy.md and the README's "Accuracy".
Latency is the mean wall time of the model call per image on this machine's CPU (2 cores: ``taskset -c 0,1``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from imagelens.config import HubSettings, Settings
from imagelens.evaluation.fewshot import evaluate_fewshot
from imagelens.evaluation.run import evaluate_with_hub, write_pr_png
from imagelens.models.hub import ModelHub

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IMAGELENS_SHARED_DIR") or (REPO / ".." / "shared")).resolve()
MODELS, DATA = SHARED / "models", SHARED / "data"


def emit(report: object, curves: dict | None, out: Path, tag: str) -> None:
    row = report.to_dict()  # type: ignore[attr-defined]
    if curves:
        row["pr_curve"] = str(write_pr_png(report, curves, out / f"{tag}.png"))  # type: ignore[arg-type]
    print(json.dumps(row), flush=True)


STAGES = ("objects", "faces", "fewshot", "read", "segment", "latency")


def latency(n_images: int = 30, warmup: int = 3) -> None:
    """Median milliseconds per model call over the first ``n_images`` mini79 images (after ``warmup`` calls)."""
    import statistics

    import numpy as np

    from imagelens.evaluation.coco import load_coco
    from imagelens.evaluation.run import load_rgb

    coco = load_coco(DATA / "coco_val2017_mini79")
    images = [load_rgb(str(coco.image_path(im))) for im in coco.images[:n_images]]
    hub = ModelHub(Settings(model_dir=MODELS, hub=HubSettings(offline=True)))
    calls = {
        "yolox-nano": lambda rgb: hub.detector("yolox-nano").detect(rgb),
        "nanodet-m-416": lambda rgb: hub.detector("nanodet-m-416").detect(rgb),
        "yunet-2026may": lambda rgb: hub.face_detector("yunet-2026may").detect(rgb),
        "coral-mobilenet-v1-embedding": lambda rgb: hub.image_embedder(
            "coral-mobilenet-v1-embedding"
        ).embed_images([rgb]),
        "mediapipe-selfie-seg": lambda rgb: hub.matting("mediapipe-selfie-seg").matte(rgb),
        "coral-deeplabv3-pascal": lambda rgb: hub.matting("coral-deeplabv3-pascal").matte(rgb),
    }
    for model, call in calls.items():
        for rgb in images[:warmup]:
            call(rgb)
        ms = []
        for rgb in images:
            t0 = time.perf_counter()
            call(rgb)
            ms.append(1000.0 * (time.perf_counter() - t0))
        size = sum(f.stat().st_size for f in (MODELS / model).iterdir() if f.suffix in (".onnx", ".tflite"))
        row = {"model": model, "median_ms": round(statistics.median(ms), 1), "p90_ms": round(float(np.percentile(ms, 90)), 1),
               "images": len(ms), "bytes": size, "cpus": len(os.sched_getaffinity(0))}  # fmt: skip
        print(json.dumps(row), flush=True)
    hub.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("eval-curves"))
    parser.add_argument("--only", nargs="*", choices=STAGES, default=list(STAGES))
    args = parser.parse_args()
    if not MODELS.is_dir():
        raise SystemExit(f"not present: {MODELS} (set IMAGELENS_SHARED_DIR)")
    hub = ModelHub(Settings(model_dir=MODELS, hub=HubSettings(offline=True)))
    if "objects" in args.only:
        for model in ("yolox-nano", "nanodet-m-416"):
            for data in ("coco_val2017_first128", "coco_val2017_mini79"):
                report, curves = evaluate_with_hub(
                    hub, "objects", DATA / data, model_id=model, check_pycocotools=True
                )
                emit(report, curves, args.out, f"objects-{model}-{data}")
            report, curves = evaluate_with_hub(hub, "people", DATA / "coco_val2017_mini79", model_id=model)
            emit(report, curves, args.out, f"people-{model}-mini79")
    if "faces" in args.only:
        for visible_only in (False, True):
            report, curves = evaluate_with_hub(
                hub,
                "faces",
                DATA / "coco_val2017_mini79",
                model_id="yunet-2026may",
                visible_only=visible_only,
            )
            emit(report, curves, args.out, f"faces-yunet-2026may-mini79{'-visible' if visible_only else ''}")
    if "fewshot" in args.only:
        fewshot = evaluate_fewshot(
            hub, DATA / "grocery_store_fewshot" / "labels.csv", model_id="coral-mobilenet-v1-embedding"
        )
        emit(fewshot, None, args.out, "fewshot")
    if "read" in args.only:
        report, curves = evaluate_with_hub(hub, "read", DATA / "sroie_receipts_ocr")
        emit(report, curves, args.out, "read-sroie")
    hub.close()
    if "segment" in args.only:
        segment()
    if "latency" in args.only:
        latency()


def segment() -> None:
    from imagelens.analyzer import Analyzer
    from imagelens.evaluation.features import segment_report
    from imagelens.segment.evaluate import evaluate_coco

    analyzer = Analyzer(Settings(model_dir=MODELS, hub=HubSettings(offline=True)))
    for model in ("mediapipe-selfie-seg", "coral-deeplabv3-pascal"):
        for refine in ("none", "guided"):
            t0 = time.perf_counter()
            raw = evaluate_coco(analyzer, DATA / "coco_val2017_mini79", model_id=model, refine=refine)
            row = segment_report(raw).to_dict()
            row["refine"], row["seconds"] = refine, round(time.perf_counter() - t0, 1)
            print(json.dumps(row), flush=True)
    analyzer.close()


if __name__ == "__main__":
    main()
