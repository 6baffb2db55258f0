"""OWLv2's padded-square geometry, both ways: pixels to network input (:class:`OwlImageProcessing`) and raw outputs
back to boxes in the original image (:func:`decode_open_vocab`). See the package docstring for why boxes scale by
``max(width, height)`` on both axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.detections import Detections
from imagelens.geometry import clip_xyxy
from imagelens.numeric import sigmoid

PREPROCESSOR_FILE = "preprocessor_config.json"
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def decode_open_vocab(
    logits: npt.ArrayLike,
    boxes_cxcywh: npt.ArrayLike,
    width: int,
    height: int,
    *,
    threshold: float,
    class_names: Sequence[str],
    nms_iou: float | None = 0.5,
    max_detections: int = 300,
) -> Detections:
    """Raw OWLv2 outputs for one image -> :class:`~imagelens.detections.Detections` in pixels of the ``width`` x
    ``height`` original: ``class_names`` are the query labels, ``data["patch"]`` the patch each box came from.

    ``logits`` (P, Q): per patch and query; ``boxes_cxcywh`` (P, 4) normalised to the zero-padded square of side
    ``max(width, height)``. Each patch keeps its best query; patches scoring ``>= threshold`` are scaled by that
    side and clipped to the image. Boxes centred in the padding (the model looking at the zero fill) and boxes
    under a pixel wide or high after clipping are dropped. Then class-agnostic NMS and the cap. Ties keep the
    lower patch index first, so results are deterministic.
    """
    lg = np.asarray(logits, dtype=np.float64)
    bx = np.asarray(boxes_cxcywh, dtype=np.float64)
    if lg.ndim != 2 or bx.shape != (lg.shape[0], 4):
        raise ValueError(f"expected logits (P, Q) and boxes (P, 4), got {lg.shape} and {bx.shape}")
    if lg.shape[1] != len(class_names):
        raise ValueError(f"{lg.shape[1]} queries but {len(class_names)} class names")
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    best = np.argmax(lg, axis=1)
    scores = sigmoid(lg[np.arange(len(lg)), best])
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= threshold]
    side = float(max(width, height))
    cx, cy, w, h = (bx[order] * side).T
    xyxy = clip_xyxy(
        np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).reshape(-1, 4), width, height
    )
    centred_inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
    nonempty = centred_inside & (xyxy[:, 2] - xyxy[:, 0] >= 1.0) & (xyxy[:, 3] - xyxy[:, 1] >= 1.0)
    det = Detections(
        boxes=xyxy[nonempty],
        scores=scores[order][nonempty],
        class_ids=best[order][nonempty],
        class_names=tuple(class_names),
        data={"patch": order[nonempty].astype(np.int64)},
    )
    if nms_iou is not None:
        det = det.nms(nms_iou, class_agnostic=True)  # a stable re-sort keeps the tie order
    return det.head(max_detections)


@dataclass(frozen=True, slots=True)
class OwlImageProcessing:
    """The parts of an ``Owlv2ImageProcessor`` config that change the pixels: rescale, zero-pad to a square at the
    bottom and right, resize to ``size`` with anti-aliasing, normalise."""

    size: int = 960
    rescale_factor: float = 1.0 / 255.0
    image_mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    image_std: tuple[float, float, float] = OPENAI_CLIP_STD

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OwlImageProcessing:
        """Reads a saved ``preprocessor_config.json``; refuses what it cannot reproduce instead of guessing."""
        size = dict(config.get("size") or {"height": 960, "width": 960})
        if set(size) != {"height", "width"} or size["height"] != size["width"]:
            raise ValueError(f"only a square {{'height', 'width'}} size is supported, got size={size}")
        for flag in ("do_rescale", "do_pad", "do_resize", "do_normalize"):
            if config.get(flag, True) is False:
                raise ValueError(f"{flag}=false is not supported (OWLv2 checkpoints set it true)")
        return cls(
            size=int(size["height"]),
            rescale_factor=float(config.get("rescale_factor", 1.0 / 255.0)),
            image_mean=tuple(config.get("image_mean", OPENAI_CLIP_MEAN)),  # type: ignore[arg-type]
            image_std=tuple(config.get("image_std", OPENAI_CLIP_STD)),  # type: ignore[arg-type]
        )

    def apply(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """RGB uint8 (H, W, 3) -> float32 (1, 3, size, size)."""
        from scipy import ndimage

        arr = np.asarray(image)
        height, width = arr.shape[:2]
        side = max(height, width)
        padded = np.zeros((side, side, 3), dtype=np.float32)
        padded[:height, :width] = arr.astype(np.float32) * np.float32(self.rescale_factor)
        factor = side / self.size
        if side != self.size:
            if factor > 1:  # anti-aliasing as skimage.transform.resize does it: sigma = (factor - 1) / 2
                sigma = (factor - 1.0) / 2.0
                filtered = ndimage.gaussian_filter(padded, (sigma, sigma, 0.0), mode="mirror", cval=0.0)
            else:
                filtered = padded
            zoomed = ndimage.zoom(
                filtered, (1 / factor, 1 / factor, 1.0), order=1, mode="mirror", cval=0.0, grid_mode=True
            )
            padded = np.clip(zoomed, padded.min(), padded.max())
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32)
        out = (padded - mean) / std
        return np.ascontiguousarray(out.transpose(2, 0, 1)[None], dtype=np.float32)
