"""The detector trainer's data: samples (pixels, boxes, class indices), augmentation, and transformers' targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.customize.control import TrainingControl
from imagelens.customize.records import Dataset, ImageRecord

UInt8Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True, eq=False)
class Sample:
    image_id: int
    pixels: UInt8Image
    boxes: npt.NDArray[np.float64]  # (N, 4) x, y, w, h in pixels
    labels: npt.NDArray[np.int64]  # (N,) class index


def augment(
    pixels: UInt8Image, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[UInt8Image, np.ndarray, np.ndarray]:
    """Flip (p=0.5), crop to 60-100 % of each side (p=0.5; boxes clipped, those keeping < 50 % of their area
    dropped, the crop skipped if it would drop every box), and jitter brightness, contrast and saturation by up to
    20 %. Boxes stay ``[x, y, w, h]`` in the new image's pixels."""
    img = pixels
    b = boxes.astype(np.float64).copy()
    lab = labels.copy()
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        img = img[:, ::-1]
        b[:, 0] = w - b[:, 0] - b[:, 2]
    if rng.random() < 0.5:
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        x1 = np.clip(b[:, 0], x0, x0 + cw)
        y1 = np.clip(b[:, 1], y0, y0 + ch)
        x2 = np.clip(b[:, 0] + b[:, 2], x0, x0 + cw)
        y2 = np.clip(b[:, 1] + b[:, 3], y0, y0 + ch)
        kept_area = (x2 - x1) * (y2 - y1)
        keep = (kept_area >= 0.5 * b[:, 2] * b[:, 3]) & (x2 - x1 >= 2) & (y2 - y1 >= 2)
        if keep.any() or len(b) == 0:
            img = img[y0 : y0 + ch, x0 : x0 + cw]
            b = np.stack([x1 - x0, y1 - y0, x2 - x1, y2 - y1], axis=1)[keep]
            lab = lab[keep]
    out = img.astype(np.float32)
    out *= np.float32(rng.uniform(0.8, 1.2))  # brightness
    mean = out.mean()
    out = (out - mean) * np.float32(rng.uniform(0.8, 1.2)) + mean  # contrast
    grey = out.mean(axis=2, keepdims=True)
    out = (out - grey) * np.float32(rng.uniform(0.8, 1.2)) + grey  # saturation
    return np.clip(out, 0, 255).astype(np.uint8), b, lab


def detr_target(boxes: np.ndarray, labels: np.ndarray, width: int, height: int) -> dict[str, Any]:
    """transformers' DETR target: class indices and normalised ``cx, cy, w, h``."""
    import torch

    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    cxcywh = np.stack(
        [
            (b[:, 0] + b[:, 2] / 2) / width,
            (b[:, 1] + b[:, 3] / 2) / height,
            b[:, 2] / width,
            b[:, 3] / height,
        ],
        axis=1,
    )
    return {
        "class_labels": torch.as_tensor(np.asarray(labels, np.int64)),
        "boxes": torch.as_tensor(np.clip(cxcywh, 0.0, 1.0), dtype=torch.float32),
    }


def load_samples(
    records: Sequence[ImageRecord],
    dataset: Dataset,
    index: dict[int, int],
    load: Callable[[ImageRecord], UInt8Image],
    control: TrainingControl | None = None,
) -> list[Sample]:
    by_image: dict[int, list[Any]] = {}
    for a in dataset.annotations:
        if a.bbox is not None and not a.iscrowd:
            by_image.setdefault(a.image_id, []).append(a)
    out = []
    for im in records:
        if control is not None:
            control.check()  # loading many (remote) images takes a while: stay cancellable and alive
        anns = by_image.get(im.id, [])
        out.append(
            Sample(
                image_id=im.id,
                pixels=load(im),
                boxes=np.asarray([a.bbox for a in anns], np.float64).reshape(-1, 4),
                labels=np.asarray([index[a.category_id] for a in anns], np.int64),
            )
        )
    return out
