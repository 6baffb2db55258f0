"""The importance map: how much each region of an image matters, from pixel saliency (spectral residual, edge
energy, colour contrast, a mild centre prior) plus the mass of known content boxes (faces, people, text, objects)."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from imagelens.cropping.checks import FloatMap, UInt8Image, as_rgb, boxes_array
from imagelens.errors import InvalidArgumentError
from imagelens.types import BoundingBox

#: Weight of each kind of known content. A box of weight ``w`` adds ``w * BOX_MASS_SHARE`` times the saliency
#: mass of the whole image, so one face (4 x 0.25) weighs as much as everything the pixels say.
BOX_WEIGHTS: MappingProxyType[str, float] = MappingProxyType(
    {"face": 4.0, "person": 2.0, "text": 1.5, "object": 1.0}
)
BOX_MASS_SHARE = 0.25

#: Long side of the importance map. 256 keeps a 4000 x 3000 image well under a second and is finer than any
#: crop decision needs (one map cell is < 0.4 % of the image side).
MAP_LONG_SIDE = 256
#: Blend of the saliency cues; each is scaled to [0, 1] first.
_W_SPECTRAL, _W_EDGES, _W_COLOUR = 0.4, 0.35, 0.25
#: Importance everywhere, so a featureless image (or region) still prefers the centre, and ties are broken there.
_FLOOR = 0.02
#: The centre prior goes from 1 at the centre to about ``1 - _CENTRE_DEPTH`` at the corners: mild on purpose.
_CENTRE_DEPTH = 0.25


def _spectral_residual(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Hou & Zhang's spectral residual saliency, on a 64-pixel version of ``grey``, scaled to [0, 1].

    The log amplitude spectrum of natural images is smooth; what sticks out of it (the residual) is what is
    unexpected in the image. Back in image space with the original phase, it lights up the salient blobs.
    """
    import cv2

    h, w = grey.shape
    scale = 64.0 / max(h, w)
    small = cv2.resize(
        grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    spectrum = np.fft.fft2(small.astype(np.float64))
    amplitude = np.abs(spectrum)
    log_amp = np.log(amplitude + 1e-3 * float(amplitude.mean()) + 1e-12)
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REPLICATE)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    sal = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    peak = float(sal.max())
    return (sal / peak).astype(np.float32) if peak > 0 else np.zeros_like(sal)


def _saliency(small: UInt8Image) -> npt.NDArray[np.float32]:
    """Pixel saliency in [0, 1] from three cues; an image without contrast gets (nearly) none."""
    import cv2

    h, w = small.shape[:2]
    blur_sigma = max(1.0, 0.015 * max(h, w))
    rgb = small.astype(np.float32) / 255.0
    grey = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.float32)

    # Spectral residual is scale-free, so gate it by how much contrast the image has at all (noise stays quiet).
    smooth = cv2.blur(grey, (3, 3))
    gate = min(1.0, float(smooth.max() - smooth.min()) / 0.08)
    spectral = _spectral_residual(grey) * gate if gate > 0 else np.zeros_like(grey)

    # Edge energy, spread over its neighbourhood so that textured objects become regions, not outlines.
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    energy = np.minimum(np.sqrt(dx * dx + dy * dy) / 4.0, 1.0)
    edges = np.asarray(cv2.GaussianBlur(energy, (0, 0), blur_sigma), dtype=np.float32)
    edges /= max(float(edges.max()), 0.05)

    # Colour contrast (Achanta's frequency-tuned saliency): distance in Lab from the image's mean colour.
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    lab_blur = cv2.GaussianBlur(lab, (0, 0), 1.0)
    colour = np.sqrt(((lab_blur - lab.reshape(-1, 3).mean(axis=0)) ** 2).sum(axis=2)).astype(np.float32)
    colour /= max(float(colour.max()), 10.0)

    sal = _W_SPECTRAL * spectral + _W_EDGES * edges + _W_COLOUR * colour
    return cv2.GaussianBlur(sal.astype(np.float32), (0, 0), blur_sigma / 2)


def _centre_prior(h: int, w: int) -> npt.NDArray[np.float32]:
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h - 0.5
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
    g = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * 0.35**2))
    return (1.0 - _CENTRE_DEPTH + _CENTRE_DEPTH * g).astype(np.float32)


def _coverage(lo: float, hi: float, n: int) -> npt.NDArray[np.float64]:
    """How much of each unit cell ``[i, i + 1)``, i < n, the interval ``[lo, hi)`` covers (anti-aliased raster)."""
    edges = np.arange(n + 1, dtype=np.float64)
    return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, 1.0)


def importance_map(
    rgb: npt.ArrayLike,
    *,
    boxes: Sequence[BoundingBox] = (),
    weights: Sequence[float] = (),
    long_side: int = MAP_LONG_SIDE,
) -> FloatMap:
    """How much each region of ``rgb`` matters, as a float32 map whose long side is ``long_side`` (or less).

    ``boxes`` (pixels of ``rgb``) are known important content with their ``weights`` (see :data:`BOX_WEIGHTS`;
    1.0 each when ``weights`` is empty). Each adds ``weight * BOX_MASS_SHARE`` times the pixel saliency mass,
    spread evenly over the box. The map is non-negative; its absolute scale has no meaning.
    """
    import cv2

    img = as_rgb(rgb)
    height, width = img.shape[:2]
    if weights and len(weights) != len(boxes):
        raise InvalidArgumentError(f"got {len(boxes)} content boxes but {len(weights)} weights")
    w = np.asarray(weights if weights else [1.0] * len(boxes), dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidArgumentError(f"content box weights must be finite and >= 0, got {list(weights)!r}")

    scale = min(1.0, long_side / max(height, width))
    mw, mh = max(1, round(width * scale)), max(1, round(height * scale))
    small = (
        img
        if (mw, mh) == (width, height)
        else np.asarray(cv2.resize(img, (mw, mh), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    )
    prior = _centre_prior(mh, mw)
    imp = ((_saliency(small) + _FLOOR) * prior).astype(np.float64)

    total = float(imp.sum())
    sx, sy = mw / width, mh / height
    for (x1, y1, x2, y2), weight in zip(boxes_array(boxes, width, height), w, strict=True):
        cover = np.outer(_coverage(y1 * sy, y2 * sy, mh), _coverage(x1 * sx, x2 * sx, mw))
        area = float(cover.sum())
        if area > 0 and weight > 0:
            imp += cover * (weight * BOX_MASS_SHARE * total / area)
    return imp.astype(np.float32)
