"""Undo perspective: warp a quadrilateral (shelf edge, document, sign) to an upright rectangle.

Corners come either from the caller, as :class:`ControlPoints` normalized to [0, 1] of the image width and height
(Azure's ``controlPoints`` JSON is read by :func:`imagelens.azure.shelf.parse_control_points`), or from
:func:`imagelens.shelf.quad.detect_quad`, which finds the dominant quadrilateral itself and refuses, naming what it
found, when no quadrilateral has a clear edge along its outline (:func:`imagelens.shelf.quad.edge_support`):
rectifying an arbitrary blob would silently produce garbage.

Coordinates: normalized control points map to pixels by multiplying with the image size, so they are *continuous*
coordinates (the image spans ``[0, W] x [0, H]``); the warp converts to OpenCV's pixel-centre convention once, in
:func:`imagelens.geometry.to_pixel_center_convention`.

The output size comes from the quadrilateral: the longer of each pair of opposite sides
(:func:`imagelens.geometry.rectified_size`), capped at ``max_output_side``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.geometry import (
    apply_homography,
    convex_quad_issue,
    homography_from_points,
    rectified_size,
    to_pixel_center_convention,
)
from imagelens.shelf.quad import MIN_SUPPORT, QuadDetection, as_rgb, detect_quad, support_ok

FloatArray = npt.NDArray[np.float64]
UInt8Image = npt.NDArray[np.uint8]

CORNER_NAMES = ("topLeft", "topRight", "bottomRight", "bottomLeft")


@dataclass(frozen=True, slots=True)
class ControlPoints:
    """Four corners in normalized [0, 1] image coordinates (Azure's ``controlPoints``)."""

    top_left: tuple[float, float]
    top_right: tuple[float, float]
    bottom_right: tuple[float, float]
    bottom_left: tuple[float, float]

    def __post_init__(self) -> None:
        fields = ("top_left", "top_right", "bottom_right", "bottom_left")
        for attr, name, point in zip(fields, CORNER_NAMES, self.corners(), strict=True):
            if len(point) != 2:
                raise InvalidArgumentError(f"controlPoints.{name} needs x and y, got {point!r}")
            for axis, value in zip("xy", point, strict=True):
                ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
                if not ok or not math.isfinite(value) or not 0.0 <= value <= 1.0:
                    raise InvalidArgumentError(
                        f"controlPoints.{name}.{axis} must be a number in [0, 1] (normalized), got {value!r}"
                    )
            object.__setattr__(
                self, attr, (float(point[0]), float(point[1]))
            )  # numpy scalars, lists -> floats

    def corners(self) -> tuple[tuple[float, float], ...]:
        """TL, TR, BR, BL: clockwise on screen."""
        return (self.top_left, self.top_right, self.bottom_right, self.bottom_left)

    def as_array(self) -> FloatArray:
        return np.asarray(self.corners(), dtype=np.float64)

    def to_pixels(self, width: int, height: int) -> FloatArray:
        """Continuous pixel coordinates (TL, TR, BR, BL) in an image of the given size."""
        return self.as_array() * np.array([width, height], dtype=np.float64)

    @classmethod
    def from_pixels(cls, corners: npt.ArrayLike, width: int, height: int) -> ControlPoints:
        pts = np.asarray(corners, dtype=np.float64).reshape(4, 2) / np.array([width, height])
        pts = np.clip(pts, 0.0, 1.0)
        return cls(*(tuple(float(v) for v in p) for p in pts))  # type: ignore[arg-type]

    @classmethod
    def from_sequence(cls, values: Sequence[float]) -> ControlPoints:
        """From ``TLx, TLy, TRx, TRy, BRx, BRy, BLx, BLy`` (the CLI's ``--corners`` order: clockwise)."""
        if len(values) != 8:
            raise InvalidArgumentError(
                f"corners need 8 numbers (TLx,TLy,TRx,TRy,BRx,BRy,BLx,BLy), got {len(values)}"
            )
        v = [float(x) for x in values]
        return cls((v[0], v[1]), (v[2], v[3]), (v[4], v[5]), (v[6], v[7]))

    @classmethod
    def parse(cls, text: str) -> ControlPoints:
        """Parse ``"TLx,TLy,TRx,TRy,BRx,BRy,BLx,BLy"``."""
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise InvalidArgumentError(
                f"corners must be 8 comma-separated numbers TLx,TLy,TRx,TRy,BRx,BRy,BLx,BLy, got {text!r}"
            ) from None
        return cls.from_sequence(numbers)


@dataclass(frozen=True, slots=True, eq=False)
class RectifyResult:
    image: UInt8Image
    corners: FloatArray
    """The input quadrilateral, TL, TR, BR, BL, in continuous pixel coordinates of the input image."""
    control_points: ControlPoints
    homography: FloatArray
    """Maps continuous input coordinates to continuous output coordinates."""
    detected: bool
    """True when the corners came from :func:`detect_quad` rather than from the caller."""
    detection_score: float | None = None
    support: tuple[float, float, float, float] | None = None
    """The detected quadrilateral's :func:`edge_support` (top, right, bottom, left); ``None`` for given corners."""

    @property
    def weak(self) -> bool:
        """True when detected corners fall short of the default bar (accepted with a lowered ``min_support``)."""
        return self.support is not None and not support_ok(self.support, MIN_SUPPORT)


def rectify(
    image: npt.ArrayLike,
    control_points: ControlPoints | Sequence[float] | str | None = None,
    *,
    output_size: tuple[int, int] | None = None,
    max_output_side: int = 16000,
    min_support: float = MIN_SUPPORT,
) -> RectifyResult:
    """Warp the quadrilateral given by ``control_points`` (or found by :func:`detect_quad`) to a rectangle.

    ``control_points`` may be a :class:`ControlPoints`, 8 numbers ``TLx, TLy, TRx, TRy, BRx, BRy, BLx, BLy``
    (normalized) or that text. Raises :class:`InvalidArgumentError` for corners out of [0, 1], coinciding, collinear
    or in a crossed order, and :class:`InvalidRequestError` when no points are given and no quadrilateral with a
    clear edge on every side can be found (the message names the best candidate, so a caller can pass it on).
    ``min_support`` is :func:`detect_quad`'s bar; 0 accepts whatever it finds.
    """
    import cv2

    img = as_rgb(image)
    height, width = img.shape[:2]
    detection: QuadDetection | None = None
    if control_points is None:
        detection = detect_quad(img, min_support=min_support)
        quad = detection.corners
        cps = ControlPoints.from_pixels(quad, width, height)
    else:
        cps = _coerce_control_points(control_points)
        quad = cps.to_pixels(width, height)
        issue = convex_quad_issue(quad)
        if issue is not None:
            raise InvalidArgumentError(f"controlPoints do not form a usable quadrilateral: {issue}")
    if output_size is None:
        out_w, out_h = rectified_size(quad)
        longest = max(out_w, out_h)
        if longest > max_output_side:
            factor = max_output_side / longest
            out_w, out_h = max(1, round(out_w * factor)), max(1, round(out_h * factor))
    else:
        out_w, out_h = (int(v) for v in output_size)
        if out_w < 1 or out_h < 1 or max(out_w, out_h) > max_output_side:
            raise InvalidArgumentError(
                f"output_size must be between 1 and {max_output_side} pixels per side, got {out_w}x{out_h}"
            )
    if min(out_w, out_h) < 2:
        raise InvalidArgumentError(f"the quadrilateral is too small to rectify: {out_w}x{out_h} pixels")
    target = np.array([[0.0, 0.0], [out_w, 0.0], [out_w, out_h], [0.0, out_h]])
    try:
        homography = homography_from_points(quad, target)
    except ValueError as exc:
        raise InvalidArgumentError(f"controlPoints do not form a usable quadrilateral: {exc}") from None
    warped = cv2.warpPerspective(
        img,
        to_pixel_center_convention(homography),
        (out_w, out_h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return RectifyResult(
        image=np.asarray(warped, dtype=np.uint8),
        corners=quad,
        control_points=cps,
        homography=homography,
        detected=detection is not None,
        detection_score=None if detection is None else detection.score,
        support=None if detection is None else detection.support,
    )


def _coerce_control_points(value: ControlPoints | Sequence[float] | str) -> ControlPoints:
    if isinstance(value, ControlPoints):
        return value
    if isinstance(value, Mapping):
        raise InvalidArgumentError(
            "control points must be ControlPoints or 8 numbers; read Azure's controlPoints JSON with "
            "imagelens.azure.shelf.parse_control_points"
        )
    if isinstance(value, str):
        return ControlPoints.parse(value)
    arr = np.asarray(value, dtype=np.float64).ravel()
    return ControlPoints.from_sequence(list(arr))


def map_points(result: RectifyResult, points: npt.ArrayLike) -> FloatArray:
    """Map continuous input-image points into the rectified image (e.g. to carry boxes along)."""
    return apply_homography(result.homography, points)
