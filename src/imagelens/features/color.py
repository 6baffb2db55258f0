"""v3.2 ``Color``: dominant foreground/background colours, dominant colours, accent colour, black-and-white.

No model: pixels are classified to Azure's 12 colour names (black, blue, brown, gray, green, orange, pink, purple, red,
teal, white, yellow) by the nearest reference colour in CIE Lab. The background is the outer frame of the image
(10 % on each side), the foreground the central region (the middle 50 % of each side): the same split Azure
describes ("dominant colors in the foreground and background"). ``dominantColors`` lists the names that cover at least
10 % of the image, most common first (at most 3). The accent colour is the mean RGB of the most common saturated hue
bin (a vivid colour that stands out), as hex without ``#``. An image is black-and-white when 99 % of its pixels have
a Lab chroma below 8.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from imagelens.features.base import FeatureContext
from imagelens.models.spec import Role
from imagelens.types import ColorInfo

# Reference sRGB values for Azure's colour names (chosen at the centre of each name's usual range).
REFERENCE_COLOURS: dict[str, tuple[int, int, int]] = {
    "Black": (20, 20, 20),
    "Blue": (40, 80, 200),
    "Brown": (120, 75, 40),
    "Gray": (128, 128, 128),
    "Green": (50, 150, 50),
    "Orange": (240, 140, 20),
    "Pink": (240, 150, 190),
    "Purple": (120, 50, 150),
    "Red": (200, 30, 30),
    "Teal": (0, 128, 128),
    "White": (240, 240, 240),
    "Yellow": (240, 220, 40),
}
NAMES = tuple(REFERENCE_COLOURS)
BW_CHROMA = 8.0
BW_SHARE = 0.99
DOMINANT_SHARE = 0.10
SAMPLE_SIDE = 128


def _lab(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    import cv2

    flat = rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0
    lab: npt.NDArray[np.float32] = cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float32)
    return lab


_REF_LAB = _lab(np.asarray(list(REFERENCE_COLOURS.values()), dtype=np.uint8))


def _name_indices(lab: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    d = ((lab[:, None, :] - _REF_LAB[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d, axis=1)


def _dominant(indices: npt.NDArray[np.int64]) -> str:
    counts = np.bincount(indices, minlength=len(NAMES))
    return NAMES[int(np.argmax(counts))]


def analyze_colour(rgb: npt.NDArray[np.uint8]) -> ColorInfo:
    import cv2

    height, width = rgb.shape[:2]
    scale = SAMPLE_SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)  # type: ignore[assignment]
    h, w = rgb.shape[:2]
    lab = _lab(rgb).reshape(h, w, 3)
    names = _name_indices(lab.reshape(-1, 3)).reshape(h, w)

    bx, by = max(1, round(w * 0.1)), max(1, round(h * 0.1))
    frame = np.ones((h, w), dtype=bool)
    frame[by : h - by, bx : w - bx] = False
    fx, fy = round(w * 0.25), round(h * 0.25)
    centre = names[fy : max(fy + 1, h - fy), fx : max(fx + 1, w - fx)]

    counts = np.bincount(names.ravel(), minlength=len(NAMES)) / names.size
    order = np.argsort(-counts, kind="stable")
    dominant = tuple(NAMES[i] for i in order[:3] if counts[i] >= DOMINANT_SHARE) or (NAMES[int(order[0])],)

    chroma = np.hypot(lab[..., 1], lab[..., 2])
    is_bw = bool((chroma < BW_CHROMA).mean() >= BW_SHARE)
    return ColorInfo(
        dominant_foreground=_dominant(centre.ravel()),
        dominant_background=_dominant(names[frame]),
        dominant_colors=dominant,
        accent_color=_accent(rgb, chroma),
        is_bw=is_bw,
    )


def _accent(rgb: npt.NDArray[np.uint8], chroma: npt.NDArray[np.float32]) -> str:
    """Mean colour of the most common hue bin among the most saturated pixels (the grey mean when none is vivid)."""
    import cv2

    flat = rgb.reshape(-1, 3)
    vivid = chroma.ravel() >= max(BW_CHROMA * 2, float(np.percentile(chroma, 75)))
    if not vivid.any():
        mean = flat.mean(axis=0)
    else:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).reshape(-1, 3)
        hues = hsv[vivid, 0].astype(np.int64) // 15  # 12 bins over OpenCV's 0..179 hue range
        best = int(np.argmax(np.bincount(hues, minlength=12)))
        mean = flat[vivid][hues == best].mean(axis=0)
    return "".join(f"{int(round(v)):02X}" for v in mean)


class ColorFeature:
    """v3.2's ``Color`` visual feature (not a 4.0 token)."""

    name: ClassVar[str] = "color"
    field: ClassVar[str] = "color"
    needs: ClassVar[tuple[Role, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()

    def run(self, ctx: FeatureContext) -> ColorInfo:
        return analyze_colour(ctx.image.array())
