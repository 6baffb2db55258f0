"""Smart crops, area of interest and thumbnails: one saliency-based algorithm, no models.

Everything here works on an *importance map*: a small float image (long side 256) saying how much each region
matters. It is built from

* saliency computed from the pixels (spectral residual saliency with numpy's FFT, edge energy and colour contrast
  against the mean colour, times a mild centre prior, plus a small floor so a flat image still crops centred), and
* boxes of content we know matters (faces strongest, then people, text lines, objects) when those features ran.
  A box adds a *mass* proportional to the whole map's saliency mass (not a density), so a small face weighs as much
  as a large one: what matters for a crop is whether the face is in it, not how many pixels it covers.

The three v3.2/v4.0 capabilities then read that map:

* :func:`best_crop` / :func:`smart_crops`: the largest crop of a given aspect ratio that keeps the most importance,
  found exhaustively with a summed-area table (every position at map resolution, then refined to the pixel);
  weighted boxes cut by the crop edge are penalised so a face is kept whole or left out, never halved.
* :func:`area_of_interest`: the box, of any shape, holding ~90 % of the importance above the background level.
* :func:`thumbnail`: ``best_crop`` at the thumbnail's ratio (or a centred crop), resized to exactly that size.

Coordinates in and out are pixels of the original image; crops are integer boxes inside it.

Modules: :mod:`~imagelens.cropping.checks` (inputs, Azure's limits), :mod:`~imagelens.cropping.importance` (the
map), :mod:`~imagelens.cropping.search` (best and centred crops), :mod:`~imagelens.cropping.interest` (area of
interest, default ratio); the one-call functions are here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from imagelens.cropping.checks import (
    DEFAULT_MAX_ASPECT_RATIO,
    DEFAULT_MIN_ASPECT_RATIO,
    MAX_ASPECT_RATIO,
    MAX_ASPECT_RATIOS,
    MIN_ASPECT_RATIO,
    THUMBNAIL_MAX_SIDE,
    FloatMap,
    UInt8Image,
    as_rgb,
    check_thumbnail_side,
    check_thumbnail_size,
    validate_aspect_ratios,
)
from imagelens.cropping.importance import BOX_MASS_SHARE, BOX_WEIGHTS, MAP_LONG_SIDE, importance_map
from imagelens.cropping.interest import area_of_interest_from_map, choose_aspect_ratio
from imagelens.cropping.search import best_crop, centred_crop
from imagelens.types import BoundingBox, SmartCrop

__all__ = [
    "BOX_MASS_SHARE",
    "BOX_WEIGHTS",
    "DEFAULT_MAX_ASPECT_RATIO",
    "DEFAULT_MIN_ASPECT_RATIO",
    "MAP_LONG_SIDE",
    "MAX_ASPECT_RATIO",
    "MAX_ASPECT_RATIOS",
    "MIN_ASPECT_RATIO",
    "THUMBNAIL_MAX_SIDE",
    "FloatMap",
    "UInt8Image",
    "area_of_interest",
    "area_of_interest_from_map",
    "best_crop",
    "centred_crop",
    "check_thumbnail_size",
    "choose_aspect_ratio",
    "importance_map",
    "smart_crops",
    "smart_crops_from_map",
    "thumbnail",
    "validate_aspect_ratios",
]


def smart_crops_from_map(
    importance: npt.ArrayLike,
    width: int,
    height: int,
    aspect_ratios: Iterable[float] | None,
    *,
    boxes: Sequence[BoundingBox] = (),
) -> tuple[SmartCrop, ...]:
    """One :class:`SmartCrop` per requested ratio (validated), or one at :func:`choose_aspect_ratio`.

    ``SmartCrop.aspect_ratio`` is the requested value (so callers can match crops to requests); the box's own
    ratio equals it up to rounding a side to a whole pixel.
    """
    ratios = validate_aspect_ratios(aspect_ratios)
    if ratios is None:
        ratios = (choose_aspect_ratio(importance, width, height, boxes=boxes),)
    return tuple(
        SmartCrop(aspect_ratio=r, box=best_crop(importance, width, height, r, boxes=boxes)) for r in ratios
    )


def smart_crops(
    rgb: npt.ArrayLike,
    aspect_ratios: Iterable[float] | None = None,
    *,
    boxes: Sequence[BoundingBox] = (),
    weights: Sequence[float] = (),
) -> tuple[SmartCrop, ...]:
    """Azure v4.0 ``smartCrops`` on an RGB array: one crop per ratio in [0.75, 1.8] (at most 10), or one default."""
    ratios = validate_aspect_ratios(aspect_ratios)  # fail fast, before any pixel work
    img = as_rgb(rgb)
    imp = importance_map(img, boxes=boxes, weights=weights)
    return smart_crops_from_map(imp, img.shape[1], img.shape[0], ratios, boxes=boxes)


def area_of_interest(rgb: npt.ArrayLike, *, boxes: Sequence[BoundingBox] = ()) -> BoundingBox:
    """Azure v3.2 ``areaOfInterest``: the region holding the important content, any aspect ratio.

    The tight part comes from pixel saliency alone; known content ``boxes`` (faces, people ...) are then included
    whole. Weighting them into the map instead would let one face's mass peel a salient object in half.
    """
    img = as_rgb(rgb)
    return area_of_interest_from_map(importance_map(img), img.shape[1], img.shape[0], boxes=boxes)


def thumbnail(
    rgb: npt.ArrayLike,
    width: int,
    height: int,
    *,
    smart: bool = True,
    boxes: Sequence[BoundingBox] = (),
    weights: Sequence[float] = (),
) -> UInt8Image:
    """Azure v3.2 ``generateThumbnail``: exactly ``height x width x 3`` uint8.

    ``smart``: the :func:`best_crop` at ``width / height``; otherwise the centred crop of that ratio. The crop is
    then resized (``INTER_AREA`` when shrinking, which avoids aliasing; bicubic when enlarging).
    """
    import cv2

    width = check_thumbnail_side("width", width)
    height = check_thumbnail_side("height", height)
    img = as_rgb(rgb)
    ih, iw = img.shape[:2]
    ratio = width / height
    if smart:
        box = best_crop(importance_map(img, boxes=boxes, weights=weights), iw, ih, ratio, boxes=boxes)
    else:
        box = centred_crop(iw, ih, ratio)
    x, y, cw, ch = int(box.x), int(box.y), int(box.w), int(box.h)
    crop = img[y : y + ch, x : x + cw]
    shrinking = cw >= width and ch >= height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(crop, (width, height), interpolation=interpolation)
    return np.ascontiguousarray(out.reshape(height, width, 3), dtype=np.uint8)
