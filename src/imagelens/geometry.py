"""Box and polygon maths, in one place. Columnar numpy arrays (N x 4, ``x1, y1, x2, y2``) for bulk work."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from imagelens.types import BoundingBox, Point, Polygon

FloatArray = npt.NDArray[np.float64]


def as_xyxy(boxes: Sequence[Sequence[float]] | npt.ArrayLike) -> FloatArray:
    """Boxes as an (N, 4) float array of ``x1, y1, x2, y2``; raises on a wrong shape."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


def xywh_to_xyxy(boxes: npt.ArrayLike) -> FloatArray:
    arr = as_xyxy(boxes).copy()
    arr[:, 2] += arr[:, 0]
    arr[:, 3] += arr[:, 1]
    return arr


def xyxy_to_xywh(boxes: npt.ArrayLike) -> FloatArray:
    arr = as_xyxy(boxes).copy()
    arr[:, 2] -= arr[:, 0]
    arr[:, 3] -= arr[:, 1]
    return arr


def box_area(boxes: npt.ArrayLike) -> FloatArray:
    arr = as_xyxy(boxes)
    return np.clip(arr[:, 2] - arr[:, 0], 0, None) * np.clip(arr[:, 3] - arr[:, 1], 0, None)


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """Pairwise intersection over union, shape (len(a), len(b)). Empty boxes have IoU 0 with everything."""
    aa, bb = as_xyxy(a), as_xyxy(b)
    x1 = np.maximum(aa[:, None, 0], bb[None, :, 0])
    y1 = np.maximum(aa[:, None, 1], bb[None, :, 1])
    x2 = np.minimum(aa[:, None, 2], bb[None, :, 2])
    y2 = np.minimum(aa[:, None, 3], bb[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box_area(aa)[:, None] + box_area(bb)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return np.clip(out, 0.0, 1.0)


def iou(a: BoundingBox, b: BoundingBox) -> float:
    return float(iou_matrix([a.xyxy()], [b.xyxy()])[0, 0])


def nms(boxes: npt.ArrayLike, scores: npt.ArrayLike, iou_threshold: float) -> npt.NDArray[np.int64]:
    """Greedy non-maximum suppression. Returns kept indices, highest score first."""
    arr = as_xyxy(boxes)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(sc) != len(arr):
        raise ValueError(f"got {len(arr)} boxes but {len(sc)} scores")
    order = np.argsort(-sc, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(arr), dtype=bool)
    ious = iou_matrix(arr, arr)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= ious[i] > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def clip_xyxy(boxes: npt.ArrayLike, width: float, height: float) -> FloatArray:
    arr = as_xyxy(boxes).copy()
    arr[:, [0, 2]] = np.clip(arr[:, [0, 2]], 0, width)
    arr[:, [1, 3]] = np.clip(arr[:, [1, 3]], 0, height)
    return arr


def clip_box(box: BoundingBox, width: float, height: float) -> BoundingBox:
    x1, y1, x2, y2 = clip_xyxy([box.xyxy()], width, height)[0]
    return BoundingBox.from_xyxy(x1, y1, x2, y2)


def order_quad_clockwise(points: npt.ArrayLike) -> FloatArray:
    """Four points ordered clockwise (in image coordinates, y down) starting from the top-left one.

    The top-left point is the one with the smallest ``x + y``; the others follow by angle around the centroid.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape != (4, 2):
        raise ValueError(f"a quadrilateral needs 4 points, got {pts.shape[0]}")
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles, kind="stable")]  # increasing angle with y down = clockwise on screen
    start = int(np.argmin(pts[:, 0] + pts[:, 1]))
    return np.roll(pts, -start, axis=0)


def quad_to_polygon(points: npt.ArrayLike) -> Polygon:
    pts = order_quad_clockwise(points)
    return Polygon(tuple(Point(float(x), float(y)) for x, y in pts))


def polygon_array(polygon: Polygon) -> FloatArray:
    return np.asarray([(p.x, p.y) for p in polygon.points], dtype=np.float64)


def union_polygon_quad(polygons: Sequence[Polygon]) -> Polygon:
    """The minimum-area rotated rectangle around several polygons (e.g. the words of one line)."""
    import cv2

    pts = np.concatenate([polygon_array(p) for p in polygons]).astype(np.float32)
    rect = cv2.minAreaRect(pts)
    return quad_to_polygon(cv2.boxPoints(rect))


# --- Homographies and quadrilaterals (used by shelf/ rectification and stitching) ------------------------------------
#
# Convention: "continuous" image coordinates put the origin at the top-left corner of the top-left pixel, so an image
# of width W spans x in [0, W] and Azure's normalized control points map to pixels by a plain multiplication.
# OpenCV's warp functions put pixel *centres* on integers; ``to_pixel_center_convention`` converts between the two.


def apply_homography(matrix: npt.ArrayLike, points: npt.ArrayLike) -> FloatArray:
    """Map (N, 2) points through a 3x3 homography (or a 2x3 affine matrix)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    if m.shape != (3, 3):
        raise ValueError(f"a homography must be 3x3 (or 2x3 affine), got {m.shape}")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ m.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return homog[:, :2] / homog[:, 2:3]


def homography_from_points(src: npt.ArrayLike, dst: npt.ArrayLike) -> FloatArray:
    """The exact homography taking 4 source points to 4 destination points (direct linear transform, h33 = 1).

    Raises ValueError when the points are degenerate (three of them collinear), where no unique answer exists.
    """
    s = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if s.shape != (4, 2) or d.shape != (4, 2):
        raise ValueError(f"need 4 source and 4 destination points, got {s.shape[0]} and {d.shape[0]}")
    for name, pts in (("source", s), ("destination", d)):
        if _has_collinear_triple(pts):
            raise ValueError(
                f"the {name} points are degenerate (three of them are collinear): no unique homography"
            )
    # Hartley normalisation (centre on the mean, mean distance sqrt(2)) keeps the system well conditioned for
    # pixel coordinates in the thousands; the condition number then only reflects real degeneracy.
    ns, nd = _normalizer(s), _normalizer(d)
    s_n, d_n = apply_homography(ns, s), apply_homography(nd, d)
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for k, ((x, y), (u, v)) in enumerate(zip(s_n, d_n, strict=True)):
        a[2 * k] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * k + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * k], b[2 * k + 1] = u, v
    if not np.isfinite(a).all() or np.linalg.cond(a) > 1e10:
        raise ValueError("the points are degenerate (three of them are collinear): no unique homography")
    h = np.append(np.linalg.solve(a, b), 1.0).reshape(3, 3)
    h = np.linalg.inv(nd) @ h @ ns
    return h / h[2, 2]


def _has_collinear_triple(points: FloatArray, rel_tol: float = 1e-9) -> bool:
    scale2 = max(float(np.ptp(points[:, 0])), float(np.ptp(points[:, 1]))) ** 2
    for skip in range(4):
        a, b, c = np.delete(points, skip, axis=0)
        if abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) <= rel_tol * scale2:
            return True
    return False


def _normalizer(points: FloatArray) -> FloatArray:
    centre = points.mean(axis=0)
    spread = float(np.mean(np.hypot(*(points - centre).T)))
    scale = np.sqrt(2.0) / spread if spread > 0 else 1.0
    return np.array([[scale, 0.0, -scale * centre[0]], [0.0, scale, -scale * centre[1]], [0.0, 0.0, 1.0]])


def to_pixel_center_convention(matrix: npt.ArrayLike) -> FloatArray:
    """Turn a homography between continuous coordinates into one between OpenCV pixel-centre coordinates.

    A pixel centre ``i`` in OpenCV is at ``i + 0.5`` in continuous coordinates, so ``H_cv = T(-0.5) @ H @ T(+0.5)``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    shift_in = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    shift_out = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    return shift_out @ m @ shift_in


def quad_signed_area(points: npt.ArrayLike) -> float:
    """Shoelace area of a polygon in the given order; positive when it runs clockwise on screen (y down)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def convex_quad_issue(
    points: npt.ArrayLike, *, min_area: float = 1e-9, min_angle_deg: float = 1.0
) -> str | None:
    """Why four points, taken in the given order, are not a usable convex quadrilateral; ``None`` when they are.

    The order must be top-left, top-right, bottom-right, bottom-left (clockwise on screen). The reasons name what is
    wrong: a repeated point, three collinear points, a crossed (self-intersecting) order, a counter-clockwise order.
    Returning a reason instead of raising lets each caller choose its error type and wording.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape != (4, 2):
        return f"a quadrilateral needs 4 points, got {pts.shape[0]}"
    if not np.all(np.isfinite(pts)):
        return "the corners contain NaN or infinite values"
    scale = max(float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1])), 1e-300)
    for i in range(4):
        for j in range(i + 1, 4):
            if np.hypot(*(pts[i] - pts[j])) <= 1e-9 * scale:
                return f"corners {i} and {j} coincide at {tuple(float(v) for v in pts[i])}"
    # Cross product at each vertex: all positive for a convex, clockwise-on-screen quadrilateral.
    crosses = []
    sin_min = np.sin(np.radians(min_angle_deg))
    for k in range(4):
        a, b, c = pts[k - 1], pts[k], pts[(k + 1) % 4]
        e1, e2 = b - a, c - b
        cross = float(e1[0] * e2[1] - e1[1] * e2[0])
        crosses.append(cross)
        if abs(cross) <= sin_min * np.hypot(*e1) * np.hypot(*e2):
            return f"corners {(k - 1) % 4}, {k} and {(k + 1) % 4} are (nearly) collinear"
    signs = np.sign(crosses)
    if np.all(signs < 0):
        return "the corners run counter-clockwise; expected top-left, top-right, bottom-right, bottom-left"
    if not np.all(signs > 0):
        # Mixed turns: either a crossed order (bow-tie) or a concave quadrilateral.
        if abs(quad_signed_area(pts)) < 0.5 * _hull_area(pts):
            return "the corner order crosses itself; expected top-left, top-right, bottom-right, bottom-left"
        return "the quadrilateral is not convex"
    if quad_signed_area(pts) <= min_area:
        return "the quadrilateral has no area"
    return None


def _hull_area(points: FloatArray) -> float:
    """Area of the convex hull of a few points (gift wrapping on 4 points is overkill; use the angle order)."""
    centre = points.mean(axis=0)
    order = np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))
    return abs(quad_signed_area(points[order]))


def rectified_size(quad: npt.ArrayLike) -> tuple[int, int]:
    """Output (width, height) for rectifying a TL, TR, BR, BL quadrilateral: the longer of each pair of opposite sides.

    Taking the longer side keeps the resolution of the nearer (larger) edge, which is what a person reading the
    result wants; the aspect ratio is exact for fronto-parallel views and close for moderate perspective.
    """
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    top = np.hypot(*(q[1] - q[0]))
    bottom = np.hypot(*(q[2] - q[3]))
    left = np.hypot(*(q[3] - q[0]))
    right = np.hypot(*(q[2] - q[1]))
    return max(1, round(max(top, bottom))), max(1, round(max(left, right)))
