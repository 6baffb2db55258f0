"""Geometry of text lines: from recogniser frames to image pixels, and reading order.

A detected line is a quadrilateral. We keep it as its four corners *in reading order* -- top-left, top-right,
bottom-right, bottom-left as the text is read, which for a line cropped sideways or turned 180 degrees is a rotation
of the image-space corner list. A position ``u`` along the text (0 = start, 1 = end) and ``v`` across it then maps to
the image by bilinear interpolation, which is exact for the rectangles the detector produces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def as_quad(points: npt.ArrayLike) -> FloatArray:
    quad = np.asarray(points, dtype=np.float64)
    if quad.shape != (4, 2):
        raise ValueError(f"a quadrilateral must have shape (4, 2), got {quad.shape}")
    return quad


def reading_quad(image_quad: npt.ArrayLike, *, turned_90: bool, turned_180: bool) -> FloatArray:
    """Corners in reading order for a line given clockwise from its top-left corner in the image.

    ``turned_90``: the crop was rotated 90 degrees counter-clockwise before recognition (tall boxes: vertical text),
    so the text runs down the box. ``turned_180``: the direction classifier turned the crop upside down.
    """
    quad = as_quad(image_quad)
    shift = (1 if turned_90 else 0) + (2 if turned_180 else 0)
    return np.roll(quad, -shift, axis=0)


def quad_point(quad: npt.ArrayLike, u: float, v: float) -> FloatArray:
    """The point at fraction ``u`` along the reading direction and ``v`` across it (0 = top of the text)."""
    q = as_quad(quad)
    top = q[0] + (q[1] - q[0]) * u
    bottom = q[3] + (q[2] - q[3]) * u
    return top + (bottom - top) * v


def sub_quad(quad: npt.ArrayLike, u0: float, u1: float) -> FloatArray:
    """The part of a line between ``u0`` and ``u1`` along its reading direction, corners in reading order."""
    u0, u1 = float(np.clip(u0, 0.0, 1.0)), float(np.clip(u1, 0.0, 1.0))
    if u1 < u0:
        u0, u1 = u1, u0
    return np.stack(
        [
            quad_point(quad, u0, 0.0),
            quad_point(quad, u1, 0.0),
            quad_point(quad, u1, 1.0),
            quad_point(quad, u0, 1.0),
        ]
    )


def reading_order(quads: Sequence[npt.ArrayLike], *, same_row: float = 0.5) -> list[int]:
    """Indices of lines in reading order: rows top to bottom, left to right within a row.

    Two lines share a row when the centre of one lies within ``same_row`` line heights of the other's centre line
    extended *along the page's skew*: on a slightly turned scan the price at the right end of a row sits lower (or
    higher) than the item on its left, and comparing plain y values would put it on the wrong row. The skew is the
    median slope of the page's wide lines, not each line's own, because a short or smudged box (a stamp, a single
    digit) can be tilted at random.
    """
    if not quads:
        return []
    qs = [as_quad(q) for q in quads]
    centres = np.asarray([q.mean(axis=0) for q in qs])
    heights = np.asarray(
        [max(1.0, (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2) for q in qs]
    )
    skew = page_skew(qs)
    rows: list[list[int]] = []
    for i in sorted(range(len(qs)), key=lambda k: (centres[k, 1], centres[k, 0])):
        placed = False
        for row in reversed(rows[-3:]):  # only recent rows can still be the same visual row
            j = min(row, key=lambda k: abs(centres[k, 0] - centres[i, 0]))
            expected_y = centres[j, 1] + (centres[i, 0] - centres[j, 0]) * skew
            if abs(centres[i, 1] - expected_y) <= same_row * min(heights[i], heights[j]):
                row.append(i)
                placed = True
                break
        if not placed:
            rows.append([i])
    rows.sort(key=lambda r: float(np.mean(centres[r, 1] - centres[r, 0] * skew)))
    order: list[int] = []
    for row in rows:
        order.extend(sorted(row, key=lambda k: float(qs[k][:, 0].min())))
    return order


def page_skew(quads: Sequence[FloatArray], *, min_aspect: float = 2.0) -> float:
    """Median slope (dy/dx) of the top and bottom edges of lines at least ``min_aspect`` times wider than tall
    (0 when there are none)."""
    slopes = []
    for q in quads:
        top, bottom = q[1] - q[0], q[2] - q[3]
        dx = (top[0] + bottom[0]) / 2
        height = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
        if dx > 0 and dx >= min_aspect * height:
            slopes.append((top[1] + bottom[1]) / 2 / dx)
    return float(np.clip(np.median(slopes), -1.0, 1.0)) if slopes else 0.0
