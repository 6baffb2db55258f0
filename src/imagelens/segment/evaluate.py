"""Mask quality against COCO instance masks (``imagelens eval segment``), and a picture of it.

- person mIoU: images whose ``person`` masks (crowd regions included) cover at least 5 % of the frame; the truth is
  their union, the prediction the matte at 0.5.
- salient-object mIoU: images whose largest non-crowd instance covers at least 20 % of the frame; the truth is that
  instance alone (a people model is expected to score low where the subject is not a person).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.segment.options import SegmentOptions

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer

PERSON_MIN_COVER = 0.05
SALIENT_MIN_COVER = 0.20
GRID_ROWS = 8
TILE_H = 160


def iou(pred: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]) -> float:
    union = np.logical_or(pred, truth).sum()
    return float(np.logical_and(pred, truth).sum() / union) if union else 1.0


def _annotations(data: Path) -> Path:
    folder = data / "annotations"
    found = sorted(folder.glob("instances_*.json")) if folder.is_dir() else []
    if not found or not (data / "images").is_dir():
        raise InvalidArgumentError(f"{data} must hold images/ and annotations/instances_*.json (COCO)")
    return found[0]


def truths(coco: Any, image_id: int) -> tuple[npt.NDArray[np.bool_] | None, npt.NDArray[np.bool_] | None]:
    """(person union if it covers >= 5 %, largest instance if it covers >= 20 %) for one COCO image."""
    info = coco.imgs[image_id]
    h, w = info["height"], info["width"]
    person_ids = set(coco.getCatIds(catNms=["person"]))
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
    person = np.zeros((h, w), dtype=bool)
    largest: npt.NDArray[np.bool_] | None = None
    for ann in anns:
        m = coco.annToMask(ann).astype(bool)
        if ann["category_id"] in person_ids:
            person |= m
        if not ann.get("iscrowd") and (largest is None or m.sum() > largest.sum()):
            largest = m
    p = person if person.mean() >= PERSON_MIN_COVER else None
    s = largest if largest is not None and largest.mean() >= SALIENT_MIN_COVER else None
    return p, s


def _checker(h: int, w: int) -> npt.NDArray[np.uint8]:
    yy, xx = np.mgrid[0:h, 0:w]
    return (
        np.where(((yy // 12) + (xx // 12)) % 2 == 0, 200, 255).astype(np.uint8)[..., None].repeat(3, axis=2)
    )


def grid_row(rgb: npt.NDArray[np.uint8], alpha: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """input | matte | cut-out on a checkerboard, scaled to ``TILE_H`` high."""
    h, w = alpha.shape
    tw = max(1, round(w * TILE_H / h))
    small = cv2.resize(rgb, (tw, TILE_H), interpolation=cv2.INTER_AREA)
    a = cv2.resize(alpha, (tw, TILE_H), interpolation=cv2.INTER_AREA)
    af = a.astype(np.float32)[..., None] / 255.0
    cut = (small * af + _checker(TILE_H, tw) * (1.0 - af)).astype(np.uint8)
    return np.concatenate([small, np.repeat(a[..., None], 3, axis=2), cut], axis=1)


def write_grid(rows: list[npt.NDArray[np.uint8]], path: Path) -> None:
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    from imagelens.io.encode import encode_image

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_image(np.concatenate(padded, axis=0), "png"))


def evaluate_coco(
    analyzer: Analyzer,
    data: Path,
    *,
    model_id: str | None = None,
    refine: str = "guided",
    grid: Path | None = None,
) -> dict[str, Any]:
    from pycocotools.coco import COCO

    ann_file = _annotations(data)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco = COCO(str(ann_file))
    options = SegmentOptions(output="matte", refine=refine, model_id=model_id)  # type: ignore[arg-type]
    model = model_id
    per: dict[str, dict[str, float]] = {"person": {}, "salient": {}}
    rows: dict[str, list[npt.NDArray[np.uint8]]] = {"person": [], "salient": []}
    elapsed = 0.0
    for image_id in sorted(coco.imgs):
        person, salient = truths(coco, image_id)
        if person is None and salient is None:
            continue
        name = coco.imgs[image_id]["file_name"]
        loaded = analyzer.load(data / "images" / name)
        t0 = time.perf_counter()
        _, result = analyzer.remove_background(loaded, options)
        elapsed += time.perf_counter() - t0
        model = result.model_id
        pred = result.pixels >= 128
        if person is not None:
            per["person"][name] = iou(pred, person)
        if salient is not None:
            per["salient"][name] = iou(pred, salient)
        kind = "person" if person is not None else "salient"
        if grid is not None and len(rows[kind]) < GRID_ROWS // 2:  # half people, half other subjects
            rows[kind].append(grid_row(loaded.array(), result.pixels))
    if grid is not None and (rows["person"] or rows["salient"]):
        write_grid(rows["person"] + rows["salient"], grid)
    count = len(set(per["person"]) | set(per["salient"]))
    return {
        "model": model,
        "refine": refine,
        "data": str(data),
        "person": _summary(per["person"], PERSON_MIN_COVER),
        "salient": _summary(per["salient"], SALIENT_MIN_COVER),
        "ms_per_image": round(1000.0 * elapsed / count, 1) if count else None,
    }


def _summary(scores: dict[str, float], cover: float) -> dict[str, Any]:
    values = list(scores.values())
    return {
        "miou": float(np.mean(values)) if values else float("nan"),
        "images": len(values),
        "min_cover": cover,
        "per_image": {k: round(v, 4) for k, v in sorted(scores.items())},
    }


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)
