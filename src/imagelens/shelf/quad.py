"""Find the shelf (or document) in a photo: the dominant convex quadrilateral with clear edges.

Candidates come from Otsu thresholding (both polarities) and Canny edges at a working resolution; the winner's
sides are refined to sub-pixel lines at full resolution. A candidate is accepted only when a clear intensity step
runs along its outline (:func:`edge_support`): a blob cut by the image frame, or a shading boundary in a photo with
no shelf at all, is refused with a message that names it, never handed on to be warped into garbage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, InvalidRequestError
from imagelens.geometry import convex_quad_issue, order_quad_clockwise, quad_signed_area

FloatArray = npt.NDArray[np.float64]
UInt8Image = npt.NDArray[np.uint8]

SIDE_NAMES = ("top", "right", "bottom", "left")
MIN_SUPPORT = 0.6
"""Default bar for an automatically found quadrilateral: a clear edge along 60 % of the outline (and half that on
every side). Measured (benchmarks/shelf_geometry.py): warped receipts 0.87-1.00, 38 photos with no such outline
0.04-0.51."""


@dataclass(frozen=True, slots=True, eq=False)
class QuadDetection:
    """The dominant quadrilateral found in an image: corners TL, TR, BR, BL in continuous pixel coordinates."""

    corners: FloatArray
    score: float
    """Fill ratio (contour area / quadrilateral area) times the quadrilateral's share of the image, in (0, 1]."""
    source: str
    """Which candidate generator found it: ``"threshold"`` (bright/dark region) or ``"edges"``."""
    support: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    """:func:`edge_support` of the top, right, bottom and left sides."""


def as_rgb(image: npt.ArrayLike) -> UInt8Image:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InvalidArgumentError(f"the image must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InvalidArgumentError(f"the image must be HxWx3 RGB, got shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])


def detect_quad(
    image: npt.ArrayLike,
    *,
    work_side: int = 1000,
    min_area_fraction: float = 0.05,
    refine: bool = True,
    min_support: float = MIN_SUPPORT,
) -> QuadDetection:
    """Find the dominant convex quadrilateral: a document or shelf edge standing out from its background.

    Candidates come from Otsu thresholding (both polarities: a bright page on a dark table and the reverse) and from
    Canny edges, at a working resolution; each closed outline is reduced to 4 vertices and scored by how well it
    fills its quadrilateral times the share of the image it covers. The winner's sides are then refined at full
    resolution, twice (a wide then a narrow search): along each side's normal the outermost strong intensity step
    of the inside-to-outside polarity is the border (text near the border steps too, but further in), located to
    a sub-pixel peak; a robust line fit per side, and the corners are the intersections of adjacent lines.

    The winner must show a clear edge (:func:`edge_support`) along at least ``min_support`` of its outline on
    average and half that on every side: a blob
    cut by the image frame, or a shading boundary in a photo with no shelf or document, is refused with
    :class:`InvalidRequestError` whose message gives the candidate's corners (normalized, in ``--corners`` order)
    and ``detail`` its pixel corners and support, rather than returned as if it were the shelf.
    """
    if not 0.0 <= min_support <= 1.0:
        raise InvalidArgumentError(f"min_support must be in [0, 1], got {min_support!r}")
    import cv2

    img = as_rgb(image)
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
    support = edge_support(gray_full, corners)
    mean_support = float(np.mean(support))
    if not support_ok(support, min_support):
        weakest = int(np.argmin(support))
        normalized = np.clip(corners / np.array([width, height]), 0.0, 1.0).ravel()
        raise InvalidRequestError(
            "no shelf or document edge found: the best quadrilateral candidate has a clear edge along only "
            f"{mean_support:.0%} of its outline and {support[weakest]:.0%} of its {SIDE_NAMES[weakest]} side "
            f"(need {min_support:.0%}, and half that on every side), so it is not rectified. Its corners "
            f"TL,TR,BR,BL normalized to [0, 1] are {','.join(f'{v:.4f}' for v in normalized)}; "
            "pass the four corners (controlPoints) instead.",
            {
                "corners": np.round(corners, 2).tolist(),
                "controlPoints": [round(float(v), 4) for v in normalized],
                "edgeSupport": [round(v, 3) for v in support],
            },
        )
    return QuadDetection(corners=corners, score=float(min(1.0, score)), source=source, support=support)


def support_ok(support: Sequence[float], min_support: float) -> bool:
    """The bar of :func:`detect_quad`: mean support at least ``min_support``, every side at least half that."""
    return float(np.mean(support)) >= min_support and min(support) >= min_support / 2


def edge_support(
    gray: npt.ArrayLike, corners: npt.ArrayLike, *, min_step: float = 12.0, samples: int = 40
) -> tuple[float, float, float, float]:
    """How clearly each side of a quadrilateral is an edge in the image: top, right, bottom, left.

    Along each side, the share of ``samples`` points where the mean grey level just inside the side differs from
    the mean just outside by at least ``min_step`` levels, with the side's dominant polarity (a page brighter than
    the table, say). Points whose outside falls off the image do not count: a side on the image frame has no
    evidence of being an edge (support 0), which is what a blob cut by the frame, or no shelf at all, looks like.
    """
    import cv2

    quad = order_quad_clockwise(np.asarray(corners, dtype=np.float64).reshape(4, 2))
    grey = np.asarray(gray)
    height, width = grey.shape[:2]
    smooth = cv2.GaussianBlur(grey, (0, 0), 1.0).astype(np.float32)
    reach = max(2.0, 0.004 * max(height, width))
    offsets = reach * np.array([1.0, 1.5, 2.0])
    centre = quad.mean(axis=0)
    support: list[float] = []
    for k in range(4):
        a, b = quad[k], quad[(k + 1) % 4]
        direction = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
        normal = np.array([-direction[1], direction[0]])
        if np.dot(normal, (a + b) / 2 - centre) < 0:
            normal = -normal  # pointing outwards
        base = a[None, :] + np.linspace(0.05, 0.95, samples)[:, None] * (b - a)[None, :]
        outside = base[:, None, :] + offsets[None, :, None] * normal[None, None, :]
        inside = base[:, None, :] - offsets[None, :, None] * normal[None, None, :]
        both = np.concatenate([inside, outside], axis=1)
        valid = (
            (both[..., 0] >= 0) & (both[..., 0] <= width) & (both[..., 1] >= 0) & (both[..., 1] <= height)
        ).all(axis=1)
        values = cv2.remap(  # continuous -> pixel-centre coordinates
            smooth,
            (both[..., 0] - 0.5).astype(np.float32),
            (both[..., 1] - 0.5).astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        n = len(offsets)
        step = values[:, :n].mean(axis=1) - values[:, n:].mean(axis=1)
        if not valid.any():
            support.append(0.0)
            continue
        polarity = 1.0 if float(np.median(step[valid])) >= 0 else -1.0
        support.append(float(np.mean(valid & (polarity * step >= min_step))))
    return (support[0], support[1], support[2], support[3])


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
