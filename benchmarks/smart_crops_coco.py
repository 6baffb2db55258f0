"""How well smart crops keep objects, on real COCO photos, against a centred crop of the same ratio.

    python benchmarks/smart_crops_coco.py [--images 128]

Data: ../shared/data/coco_val2017_first128 (COCO boxes). For each image and each ratio (0.75, 1.0, 1.8) it compares
(a) the smart crop from pixels alone, (b) the centred crop, (c) the smart crop when the annotated boxes are supplied as
content boxes (what the objects/people features provide). Reported: mean share of each object kept, share of
objects kept whole (>= 98 % of their area), and seconds per image.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from imagelens import cropping
from imagelens.types import BoundingBox

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco_val2017_first128"
RATIOS = (0.75, 1.0, 1.8)


def kept(crop: BoundingBox, boxes: list[list[float]]) -> tuple[float, float]:
    shares = []
    for x, y, w, h in boxes:
        ix = max(0.0, min(crop.x2, x + w) - max(crop.x, x))
        iy = max(0.0, min(crop.y2, y + h) - max(crop.y, y))
        shares.append(ix * iy / max(w * h, 1e-9))
    arr = np.asarray(shares)
    return float(arr.mean()), float((arr >= 0.98).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=128)
    args = parser.parse_args()
    coco = json.loads((DATA / "annotations" / "instances_val2017_first128_from_yolo.json").read_text())
    by_image: dict[int, list[list[float]]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann["bbox"])
    rows: dict[str, list[tuple[float, float]]] = {
        "smart (pixels)": [],
        "centred": [],
        "smart (+ object boxes)": [],
    }
    seconds = []
    for image in coco["images"][: args.images]:
        rgb = np.asarray(Image.open(DATA / "images" / image["file_name"]).convert("RGB"))
        height, width = rgb.shape[:2]
        gts = by_image.get(image["id"], [])
        if not gts:
            continue
        t0 = time.perf_counter()
        smart = cropping.smart_crops(rgb, RATIOS)
        seconds.append(time.perf_counter() - t0)
        boxed = cropping.smart_crops(rgb, RATIOS, boxes=[BoundingBox(*g) for g in gts])
        for crop, with_boxes in zip(smart, boxed, strict=True):
            rows["smart (pixels)"].append(kept(crop.box, gts))
            rows["centred"].append(kept(cropping.centred_crop(width, height, crop.aspect_ratio), gts))
            rows["smart (+ object boxes)"].append(kept(with_boxes.box, gts))
    print(
        f"{len(seconds)} images x {len(RATIOS)} ratios; smart_crops {np.mean(seconds) * 1000:.0f} ms/image (3 ratios)"
    )
    print("| method | mean share of each object kept | objects kept whole |")
    print("|---|---|---|")
    for name, values in rows.items():
        arr = np.asarray(values)
        print(f"| {name} | {arr[:, 0].mean():.3f} | {arr[:, 1].mean() * 100:.1f} % |")


if __name__ == "__main__":
    main()
