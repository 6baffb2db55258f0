"""The alpha matte's finishing touches (threshold, largest subject, feathering) and the output images."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from imagelens.segment.options import SegmentOptions

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


def keep_largest_subject(alpha: F32) -> F32:
    """Zero every part of the matte outside the largest connected region of ``alpha > 0.5`` (its soft edge, a few
    pixels around it, is kept)."""
    solid = (alpha > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    if count <= 2:  # background plus at most one region
        return alpha
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    keep = (labels == largest).astype(np.uint8)
    grow = max(3, round(max(alpha.shape) / 200))
    keep = cv2.dilate(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    return alpha * keep.astype(np.float32)


def finish_alpha(alpha: F32, options: SegmentOptions) -> F32:
    if options.keep_largest:
        alpha = keep_largest_subject(alpha)
    if options.threshold is not None and options.threshold > 0:
        alpha = np.where(alpha < options.threshold, np.float32(0.0), alpha).astype(np.float32)
    if options.feather > 0:
        alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), sigmaX=float(options.feather)), dtype=np.float32)
    return alpha


def to_u8(alpha: F32) -> U8:
    return np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render(rgb: U8, alpha: U8, options: SegmentOptions) -> U8:
    """``(H, W, 4)`` RGBA cut-out, ``(H, W, 3)`` RGB on a background, or ``(H, W)`` matte / mask; sizes match."""
    if options.output == "matte":
        return alpha
    if options.output == "mask":
        cut = 0.5 if options.threshold is None else options.threshold
        return np.where(alpha >= round(cut * 255), np.uint8(255), np.uint8(0)).astype(np.uint8)
    if options.background is None and options.background_image is None:
        return np.dstack([rgb, alpha])
    h, w = alpha.shape
    if options.background_image is not None:
        back = np.asarray(
            cv2.resize(options.background_image, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
    else:
        colour = options.background
        assert colour is not None
        back = np.empty((h, w, 3), dtype=np.uint8)
        back[:] = np.asarray(colour, dtype=np.uint8)
    a = alpha.astype(np.uint16)[..., None]
    out = (rgb.astype(np.uint16) * a + back.astype(np.uint16) * (255 - a) + 127) // 255
    return out.astype(np.uint8)
