"""Undo perspective: warp a quadrilateral (shelf edge, document, sign) to an upright rectangle.

Corners come either from the caller, as Azure's ``controlPoints`` (``topLeft``, ``topRight``, ``bottomLeft``,
``bottomRight``, each ``{"x", "y"}`` normalized to [0, 1] of the image width and height), or from
:func:`detect_quad`, which finds the dominant quadrilateral itself.

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
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, InvalidRequestError
from imagelens.geometry import (
    apply_homography,
    convex_quad_issue,
    homography_from_points,
    order_quad_clockwise,
    quad_signed_area,
    rectified_size,
    to_pixel_center_convention,
)

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

    @classmethod
    def from_azure(cls, obj: Mapping[str, Any]) -> ControlPoints:
        """From ``{"topLeft": {"x", "y"}, "topRight": ..., "bottomLeft": ..., "bottomRight": ...}``."""
        if not isinstance(obj, Mapping):
            raise InvalidArgumentError(f"controlPoints must be an object, got {type(obj).__name__}")
        points = []
        for name in CORNER_NAMES:
            point = obj.get(name)
            if not isinstance(point, Mapping) or "x" not in point or "y" not in point:
                raise InvalidArgumentError(
                    f"controlPoints.{name} must be an object with x and y, got {point!r}"
                )
            points.append((point["x"], point["y"]))
        return cls(*points)

    def to_azure(self) -> dict[str, dict[str, float]]:
        return {name: {"x": p[0], "y": p[1]} for name, p in zip(CORNER_NAMES, self.corners(), strict=True)}


@dataclass(frozen=True, slots=True, eq=False)
class QuadDetection:
    """The dominant quadrilateral found in an image: corners TL, TR, BR, BL in continuous pixel coordinates."""

    corners: FloatArray
    score: float
    """Fill ratio (contour area / quadrilateral area) times the quadrilateral's share of the image, in (0, 1]."""
    source: str
    """Which candidate generator found it: ``"threshold"`` (bright/dark region) or ``"edges"``."""


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


def rectify(
    image: npt.ArrayLike,
    control_points: ControlPoints | Mapping[str, Any] | Sequence[float] | None = None,
    *,
    output_size: tuple[int, int] | None = None,
    max_output_side: int = 16000,
) -> RectifyResult:
    """Warp the quadrilateral given by ``control_points`` (or found by :func:`detect_quad`) to a rectangle.

    ``control_points`` may be a :class:`ControlPoints`, Azure's ``controlPoints`` mapping, or 8 numbers
    ``TLx, TLy, TRx, TRy, BRx, BRy, BLx, BLy`` (normalized). Raises :class:`InvalidArgumentError` for corners out
    of [0, 1], coinciding, collinear or in a crossed order, and :class:`InvalidRequestError` when no points are given
    and no quadrilateral can be found.
    """
    import cv2

    img = _as_rgb(image)
    height, width = img.shape[:2]
    detection: QuadDetection | None = None
    if control_points is None:
        detection = detect_quad(img)
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
    )


def _coerce_control_points(value: ControlPoints | Mapping[str, Any] | Sequence[float]) -> ControlPoints:
    if isinstance(value, ControlPoints):
        return value
    if isinstance(value, Mapping):
        return ControlPoints.from_azure(value)
    if isinstance(value, str):
        return ControlPoints.parse(value)
    arr = np.asarray(value, dtype=np.float64).ravel()
    return ControlPoints.from_sequence(list(arr))


def _as_rgb(image: npt.ArrayLike) -> UInt8Image:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InvalidArgumentError(f"the image must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InvalidArgumentError(f"the image must be HxWx3 RGB, got shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])


# --- automatic quadrilateral detection ----------------------------------------------------------------------------


def detect_quad(
    image: npt.ArrayLike, *, work_side: int = 1000, min_area_fraction: float = 0.05, refine: bool = True
) -> QuadDetection:
    """Find the dominant convex quadrilateral: a document or shelf edge standing out from its background.

    Candidates come from Otsu thresholding (both polarities: a bright page on a dark table and the reverse) and from
    Canny edges, at a working resolution; each closed outline is reduced to 4 vertices and scored by how well it
    fills its quadrilateral times the share of the image it covers. The winner's sides are then refined at full
    resolution, twice (a wide then a narrow search): along each side's normal the outermost strong intensity step
    of the inside-to-outside polarity is the border (text near the border steps too, but further in), located to
    a sub-pixel peak; a robust line fit per side, and the corners are the intersections of adjacent lines.
    """
    import cv2

    img = _as_rgb(image)
    height, width = img.shape[:2]
    gray_full = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, work_side / max(height, width))
    gray = gray_full
    if scale < 1.0:
        gray = cv2.resize(
            gray_full, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
    work_area = float(gray.shape[0] * gray.shape[1])
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)

    masks: list[tuple[str, Any]] = []
    _, otsu = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    for mask in (otsu, 255 - otsu):
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        masks.append(("threshold", cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)))
    median = float(np.median(blurred))
    edges = cv2.Canny(blurred, int(max(0, 0.66 * median)), int(min(255, 1.33 * median) + 1))
    masks.append(("edges", cv2.dilate(edges, kernel)))

    best: tuple[float, FloatArray, str] | None = None
    for source, mask in masks:
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
            quad = _contour_to_quad(contour)
            if quad is None:
                continue
            quad_area = abs(quad_signed_area(quad))
            if quad_area < min_area_fraction * work_area or quad_area > 0.98 * work_area:
                continue  # too small to be dominant, or the image frame itself
            hull_area = cv2.contourArea(cv2.convexHull(contour))
            fill = min(hull_area, quad_area) / max(hull_area, quad_area)
            score = fill * math.sqrt(quad_area / work_area)
            if best is None or score > best[0]:
                best = (score, quad, source)
    if best is None:
        raise InvalidRequestError(
            "no dominant quadrilateral found in the image; pass the four corners (controlPoints) instead"
        )
    score, quad_work, source = best
    # Contour points are pixel centres (continuous +0.5) of the region's boundary pixels, at working scale.
    corners = (quad_work + 0.5) / scale
    if refine:
        # A wide search first (the 4-vertex outline can be several pixels off), then a narrow one around the
        # refined sides, which keeps texture next to the edge from pulling the line.
        corners = _refine_corners(gray_full, corners, search=max(8.0, 6.0 / scale))
        corners = _refine_corners(gray_full, corners, search=3.0)
    corners = order_quad_clockwise(corners)
    if convex_quad_issue(corners) is not None:
        raise InvalidRequestError(
            "the quadrilateral found is degenerate; pass the four corners (controlPoints)"
        )
    return QuadDetection(corners=corners, score=float(min(1.0, score)), source=source)


def _contour_to_quad(contour: Any) -> FloatArray | None:
    """Reduce an outline to 4 convex vertices (Douglas-Peucker on the hull with a growing tolerance)."""
    import cv2

    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    if perimeter <= 0:
        return None
    for eps in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4:
            quad = order_quad_clockwise(approx.reshape(4, 2).astype(np.float64))
            return quad if convex_quad_issue(quad, min_angle_deg=10.0) is None else None
        if len(approx) < 4:
            return None
    return None


def _refine_corners(gray: Any, corners: FloatArray, *, search: float) -> FloatArray:
    """Sub-pixel corners: per side, the border step along the normal at many points, a robust line fit, then
    the intersections of adjacent sides. Keeps the input corner where a side finds no edge."""
    import cv2

    quad = order_quad_clockwise(corners)
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.0).astype(np.float32)
    centre = quad.mean(axis=0)
    lines: list[tuple[FloatArray, FloatArray] | None] = []
    for k in range(4):
        a, b = quad[k], quad[(k + 1) % 4]
        direction = (b - a) / max(np.linalg.norm(b - a), 1e-9)
        normal = np.array([-direction[1], direction[0]])
        if np.dot(normal, (a + b) / 2 - centre) < 0:
            normal = -normal  # pointing outwards
        ts = np.linspace(0.1, 0.9, 60)
        offsets = np.linspace(-search, search, int(math.ceil(2 * search * 4)) + 1)
        base = a[None, :] + ts[:, None] * (b - a)[None, :]
        samples = base[:, None, :] + offsets[None, :, None] * normal[None, None, :]
        # continuous -> pixel-centre coordinates for remap
        map_x = (samples[..., 0] - 0.5).astype(np.float32)
        map_y = (samples[..., 1] - 0.5).astype(np.float32)
        profile = cv2.remap(smooth, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Signed step from the inside intensity towards the outside one: the document's border is a step of the
        # right polarity, and the *outermost* strong one (text near the border steps both ways, inside).
        half = profile.shape[1] // 2
        polarity = (
            1.0
            if float(np.median(profile[:, :half].mean(axis=1) - profile[:, half:].mean(axis=1))) >= 0
            else -1.0
        )
        steps = polarity * (profile[:, :-1] - profile[:, 1:])
        peaks = steps.max(axis=1)
        # Rows whose best step is weak (the window missed the edge, or the edge fades) would only add noise.
        floor = max(4.0, 0.5 * float(np.median(peaks)))
        points = []
        for row, g in enumerate(steps):
            strong = np.flatnonzero((g >= 0.5 * g.max()) & (g >= floor))
            if len(strong) == 0:
                continue
            i = int(strong[-1])
            while True:  # climb to the peak of that step (the outermost strong sample is on its flank)
                if i + 1 < len(g) and g[i + 1] > g[i]:
                    i += 1
                elif i > 0 and g[i - 1] > g[i]:
                    i -= 1
                else:
                    break
            delta = 0.0
            if 0 < i < len(g) - 1:  # parabolic peak interpolation
                denom = g[i - 1] - 2 * g[i] + g[i + 1]
                if denom < -1e-9:
                    delta = float(np.clip(0.5 * (g[i - 1] - g[i + 1]) / denom, -0.5, 0.5))
            pos = (offsets[i] + offsets[i + 1]) / 2 + delta * (offsets[1] - offsets[0])
            points.append(base[row] + pos * normal)
        lines.append(_robust_line(np.asarray(points)) if len(points) >= 8 else None)
    refined = quad.copy()
    for k in range(4):
        prev_line, next_line = lines[k - 1], lines[k]
        if prev_line is None or next_line is None:
            continue
        point = _intersect(prev_line, next_line)
        if point is not None and np.linalg.norm(point - quad[k]) <= 3 * search:
            refined[k] = point
    return refined


def _robust_line(points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A point and a unit direction: total least squares, refitted twice without points beyond 2.5 MAD."""
    keep = np.ones(len(points), dtype=bool)
    centre, direction = points.mean(axis=0), np.array([1.0, 0.0])
    for _ in range(3):
        centre = points[keep].mean(axis=0)
        _, _, vt = np.linalg.svd(points[keep] - centre)
        direction = vt[0]
        normal = np.array([-direction[1], direction[0]])
        dist = np.abs((points - centre) @ normal)
        mad = float(np.median(dist[keep])) + 1e-6
        new_keep = dist <= max(2.5 * 1.4826 * mad, 0.25)
        if new_keep.sum() < 5 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return centre, direction


def _intersect(l1: tuple[FloatArray, FloatArray], l2: tuple[FloatArray, FloatArray]) -> FloatArray | None:
    (p, d), (q, e) = l1, l2
    denom = d[0] * e[1] - d[1] * e[0]
    if abs(denom) < 1e-9:
        return None
    t = ((q[0] - p[0]) * e[1] - (q[1] - p[1]) * e[0]) / denom
    return p + t * d


def map_points(result: RectifyResult, points: npt.ArrayLike) -> FloatArray:
    """Map continuous input-image points into the rectified image (e.g. to carry boxes along)."""
    return apply_homography(result.homography, points)
