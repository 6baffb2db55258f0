"""One background-removal pass over an RGB array with a loaded MATTING model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from imagelens.errors import ModelUnavailableError
from imagelens.models.roles import Matting
from imagelens.segment.compose import finish_alpha, render, to_u8
from imagelens.segment.options import SegmentOptions
from imagelens.segment.refine import refine

# Larger inputs are matted at this many pixels and the result resized: memory stays bounded (about 40 bytes a
# working pixel at the peak) and a cut-out never exceeds Azure's 16 MP anyway.
WORK_MAX_PIXELS = 16_000_000


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """``pixels``: ``(H, W, 4)`` RGBA, ``(H, W, 3)`` RGB (on a background) or ``(H, W)`` greyscale."""

    pixels: npt.NDArray[np.uint8]
    model_id: str
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def mode(self) -> str:
        return {2: "L"}.get(self.pixels.ndim) or ("RGBA" if self.pixels.shape[2] == 4 else "RGB")

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    def png(self, compress_level: int = 1) -> bytes:
        """PNG bytes. zlib level 1: at 4000x3000 RGBA it encodes in ~2.3 s against ~8.6 s at Pillow's default 6, for
        a file ~30 % larger (benchmarks/segment.md); the encode dominates the call's time on large images."""
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.pixels).save(buffer, "PNG", compress_level=compress_level)
        return buffer.getvalue()


def _fit(rgb: npt.NDArray[np.uint8], max_pixels: int) -> npt.NDArray[np.uint8]:
    h, w = rgb.shape[:2]
    if h * w <= max_pixels:
        return rgb
    scale = (max_pixels / (h * w)) ** 0.5
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def coarse_matte(matting: Matting, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The model's matte, checked: a model answering the wrong shape or values is a model fault, not a crash."""
    alpha = matting.matte(rgb)
    if alpha.shape != rgb.shape[:2] or not np.isfinite(alpha).all():
        raise ModelUnavailableError(
            matting.spec.id,
            f"its matte has shape {alpha.shape} (or non-finite values) for an image {rgb.shape[:2]}",
        )
    return np.clip(alpha.astype(np.float32, copy=False), 0.0, 1.0)


def remove_background(
    rgb: npt.NDArray[np.uint8], matting: Matting, options: SegmentOptions | None = None
) -> SegmentResult:
    options = options or SegmentOptions()
    timings: dict[str, float] = {}
    h, w = rgb.shape[:2]
    out_w, out_h = options.output_size(w, h)
    work = _fit(rgb, WORK_MAX_PIXELS)
    t0 = time.perf_counter()
    coarse = coarse_matte(matting, work)
    timings["model"] = (time.perf_counter() - t0) * 1000.0
    t0 = time.perf_counter()
    alpha = finish_alpha(refine(work, coarse, options.refine), options)
    del coarse
    timings["refine"] = (time.perf_counter() - t0) * 1000.0
    t0 = time.perf_counter()
    alpha_u8 = to_u8(alpha)
    del alpha
    if (out_h, out_w) != alpha_u8.shape:
        alpha_u8 = np.asarray(cv2.resize(alpha_u8, (out_w, out_h), interpolation=cv2.INTER_LINEAR), np.uint8)
    colour = rgb
    if options.output == "cutout" and (out_h, out_w) != (h, w):
        shrink = out_w * out_h < w * h
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        colour = np.asarray(cv2.resize(rgb, (out_w, out_h), interpolation=interp), dtype=np.uint8)
    pixels = render(colour, alpha_u8, options)
    timings["compose"] = (time.perf_counter() - t0) * 1000.0
    return SegmentResult(pixels=pixels, model_id=matting.spec.id, timings_ms=timings)
