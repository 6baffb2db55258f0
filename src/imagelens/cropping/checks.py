"""Input checks and Azure's limits for smart crops, the area of interest and thumbnails."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.types import BoundingBox

FloatMap = npt.NDArray[np.float32]
UInt8Image = npt.NDArray[np.uint8]

#: Azure's accepted range for ``smartcrops-aspect-ratios`` (width / height, inclusive) and how many it takes.
MIN_ASPECT_RATIO = 0.75
MAX_ASPECT_RATIO = 1.8
MAX_ASPECT_RATIOS = 10
#: Range of the ratio chosen when none is requested (Azure: "between 0.5 and 2.0").
DEFAULT_MIN_ASPECT_RATIO = 0.5
DEFAULT_MAX_ASPECT_RATIO = 2.0
#: v3.2 generateThumbnail limits, in pixels.
THUMBNAIL_MAX_SIDE = 1024


def as_rgb(rgb: npt.ArrayLike) -> UInt8Image:
    """The image as uint8 H x W x 3 (grey and RGBA accepted); InvalidArgumentError otherwise."""
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise InvalidArgumentError(f"image must be a uint8 array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidArgumentError(f"image must have shape (H, W, 3), got {np.asarray(rgb).shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidArgumentError(
            f"image must be at least 1 x 1 pixels, got {arr.shape[1]} x {arr.shape[0]}"
        )
    return np.ascontiguousarray(arr)


def check_size(width: int, height: int) -> tuple[int, int]:
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise InvalidArgumentError(f"image {name} must be a positive integer, got {value!r}")
    return int(width), int(height)


def check_ratio(aspect_ratio: float) -> float:
    if isinstance(aspect_ratio, bool) or not isinstance(aspect_ratio, numbers.Real):
        raise InvalidArgumentError(f"aspect ratio must be a number, got {aspect_ratio!r}")
    value = float(aspect_ratio)
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"aspect ratio must be a positive finite number, got {aspect_ratio!r}")
    return value


def boxes_array(boxes: Sequence[BoundingBox], width: int, height: int) -> npt.NDArray[np.float64]:
    """Boxes as (N, 4) ``x1, y1, x2, y2``, grown to whole pixels and clipped to the image.

    Growing to whole pixels matters because crops are whole pixels: a face whose edge sits at y = 1.998 covers a
    sliver of row 1, and only a crop that starts at row 1 keeps it whole.
    """
    if not boxes:
        return np.zeros((0, 4), dtype=np.float64)
    arr = np.asarray([b.xyxy() for b in boxes], dtype=np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError("content boxes must have finite coordinates")
    arr[:, :2] = np.floor(arr[:, :2] + 1e-6)
    arr[:, 2:] = np.ceil(arr[:, 2:] - 1e-6)
    arr[:, [0, 2]] = np.clip(arr[:, [0, 2]], 0, width)
    arr[:, [1, 3]] = np.clip(arr[:, [1, 3]], 0, height)
    return arr


def check_importance(importance: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(importance, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidArgumentError(f"importance map must be a non-empty 2-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0:
        raise InvalidArgumentError("importance map must be finite and non-negative")
    return arr


def validate_aspect_ratios(aspect_ratios: Iterable[float] | None) -> tuple[float, ...] | None:
    """Azure's rules for ``smartcrops-aspect-ratios``: at most 10 values, each in [0.75, 1.8].

    ``None`` or an empty sequence means "none requested" (one crop at a ratio we choose). Order and repeats are
    kept: one crop per value given.
    """
    if aspect_ratios is None:
        return None
    if isinstance(aspect_ratios, (str, bytes)) or not isinstance(aspect_ratios, Iterable):
        raise InvalidArgumentError(
            f"smartcrops-aspect-ratios must be a list of numbers, got {type(aspect_ratios).__name__}"
        )
    values = tuple(aspect_ratios)
    if not values:
        return None
    if len(values) > MAX_ASPECT_RATIOS:
        raise InvalidArgumentError(
            f"Too many smartcrops-aspect-ratios: at most {MAX_ASPECT_RATIOS} are accepted, got {len(values)}."
        )
    out: list[float] = []
    for value in values:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
        if not ok or not (MIN_ASPECT_RATIO <= float(value) <= MAX_ASPECT_RATIO):
            raise InvalidArgumentError(
                f"Invalid smartcrops-aspect-ratios value {value!r}: each aspect ratio (width / height) must be "
                f"between {MIN_ASPECT_RATIO} and {MAX_ASPECT_RATIO} inclusive."
            )
        out.append(float(value))
    return tuple(out)


def check_thumbnail_side(name: str, value: int) -> int:
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or not (1 <= value <= THUMBNAIL_MAX_SIDE)
    ):
        raise InvalidArgumentError(
            f"Thumbnail {name} must be an integer between 1 and {THUMBNAIL_MAX_SIDE} pixels, got {value!r}."
        )
    return int(value)


def check_thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` checked (integers in ``1..THUMBNAIL_MAX_SIDE``), before any pixel is read."""
    return check_thumbnail_side("width", width), check_thumbnail_side("height", height)
