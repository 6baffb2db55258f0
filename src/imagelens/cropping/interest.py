"""The area of interest (the box, of any shape, holding most of the importance above the background level) and
the aspect ratio chosen when none is requested (that box's own shape, clamped)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from imagelens.cropping.checks import (
    DEFAULT_MAX_ASPECT_RATIO,
    DEFAULT_MIN_ASPECT_RATIO,
    boxes_array,
    check_importance,
    check_size,
)
from imagelens.cropping.search import summed_area
from imagelens.errors import InvalidArgumentError
from imagelens.types import BoundingBox

#: Share of the (background-subtracted) importance the area of interest holds.
_AOI_MASS = 0.9
#: A map whose peak is below this multiple of its median has nothing standing out (the centre prior alone spans
#: 1 / (1 - _CENTRE_DEPTH) = 1.33): its area of interest is the whole image.
_AOI_MIN_PEAK = 1.5


def area_of_interest_from_map(
    importance: npt.ArrayLike,
    width: int,
    height: int,
    *,
    boxes: Sequence[BoundingBox] = (),
    mass: float = _AOI_MASS,
) -> BoundingBox:
    """The box (any aspect ratio, integer pixels) holding ``mass`` of the importance above the background level.

    The background level is the map's median, subtracted first: otherwise the floor and diffuse texture spread the
    mass everywhere and the answer would be "most of the image". The box is found by peeling, one map row or column
    at a time, whichever outer line holds the least, while what is left still holds ``mass`` of the total. It is
    then grown to include every weighted box. A map whose peak is under 1.5 x its median (nothing stands out)
    gives the whole image.
    """
    imp = check_importance(importance)
    width, height = check_size(width, height)
    if not (0.0 < mass <= 1.0):
        raise InvalidArgumentError(f"mass must be in (0, 1], got {mass!r}")
    median = float(np.median(imp))
    fg = np.clip(imp - median, 0.0, None)
    total = float(fg.sum())
    mh, mw = fg.shape
    if total <= 0 or float(imp.max()) < _AOI_MIN_PEAK * median:
        return BoundingBox(0.0, 0.0, float(width), float(height))

    sat = summed_area(fg)

    def box_sum(x0: int, y0: int, x1: int, y1: int) -> float:
        return float(sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0])

    x0, y0, x1, y1 = 0, 0, mw, mh
    kept, target = total, mass * total
    while x1 - x0 > 1 or y1 - y0 > 1:
        options = []
        if y1 - y0 > 1:
            options += [(box_sum(x0, y0, x1, y0 + 1), 0), (box_sum(x0, y1 - 1, x1, y1), 1)]
        if x1 - x0 > 1:
            options += [(box_sum(x0, y0, x0 + 1, y1), 2), (box_sum(x1 - 1, y0, x1, y1), 3)]
        line, side = min(options)
        if kept - line < target:
            break
        kept -= line
        if side == 0:
            y0 += 1
        elif side == 1:
            y1 -= 1
        elif side == 2:
            x0 += 1
        else:
            x1 -= 1

    sx, sy = mw / width, mh / height
    bx1, by1 = math.floor(x0 / sx), math.floor(y0 / sy)
    bx2, by2 = math.ceil(x1 / sx), math.ceil(y1 / sy)
    for ux1, uy1, ux2, uy2 in boxes_array(boxes, width, height):
        if ux2 > ux1 and uy2 > uy1:
            bx1, by1 = min(bx1, math.floor(ux1)), min(by1, math.floor(uy1))
            bx2, by2 = max(bx2, math.ceil(ux2)), max(by2, math.ceil(uy2))
    bx1, by1 = max(0, bx1), max(0, by1)
    bx2, by2 = min(width, max(bx2, bx1 + 1)), min(height, max(by2, by1 + 1))
    return BoundingBox.from_xyxy(float(bx1), float(by1), float(bx2), float(by2))


def choose_aspect_ratio(
    importance: npt.ArrayLike, width: int, height: int, *, boxes: Sequence[BoundingBox] = ()
) -> float:
    """The ratio used when none is requested: the area of interest's own shape, clamped to [0.5, 2.0].

    Azure describes the default crop as the one "that best fits the image's region of interest"; taking the
    region's shape does exactly that, and a crop of that ratio placed by :func:`best_crop` frames it. Rounded to
    two decimals (what Azure reports). An image with nothing standing out gets its own ratio, clamped.
    """
    aoi = area_of_interest_from_map(importance, width, height, boxes=boxes)
    ratio = aoi.w / aoi.h
    return round(min(DEFAULT_MAX_ASPECT_RATIO, max(DEFAULT_MIN_ASPECT_RATIO, ratio)), 2)
