"""Empty shelf space from product boxes: group the boxes into shelf rows, then find the horizontal holes.

Pure geometry on boxes that a product detector produced on a (preferably rectified) shelf image:

- rows: a box joins the row whose typical vertical span (median top to median bottom of its members) it overlaps
  most, by at least ``min_row_overlap`` of the smaller height; otherwise it starts a new row. Comparing against the
  median span, not the running union, keeps one tall product from merging two shelves.
- gaps: within a row, sweep left to right; a hole between consecutive products (or between the shelf's ends and the
  outermost products, when the shelf extent is known) is a gap when it is at least ``min_gap_fraction`` of the
  row's median product width. Per-row medians keep a shelf of small jars and a shelf of cereal boxes each on
  their own scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.geometry import as_xyxy
from imagelens.types import BoundingBox

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ShelfRow:
    index: int
    """0 for the top row."""
    members: tuple[int, ...]
    """Indices into the input boxes, left to right."""
    top: float
    bottom: float


@dataclass(frozen=True, slots=True)
class ShelfGap:
    row: int
    box: BoundingBox
    left_neighbour: int | None
    """Index of the product left of the gap; ``None`` at the shelf's left end."""
    right_neighbour: int | None

    @property
    def width(self) -> float:
        return self.box.w


def _boxes_array(boxes: Sequence[BoundingBox] | npt.ArrayLike) -> FloatArray:
    """(N, 4) ``x1, y1, x2, y2`` from BoundingBox objects or an array-like of xyxy rows."""
    if isinstance(boxes, Sequence) and len(boxes) > 0 and isinstance(boxes[0], BoundingBox):
        arr = np.array([b.xyxy() for b in boxes], dtype=np.float64)  # type: ignore[union-attr]
    else:
        try:
            arr = as_xyxy(boxes)  # type: ignore[arg-type]
        except ValueError as exc:
            raise InvalidArgumentError(
                f"product boxes must be BoundingBox objects or (N, 4) xyxy rows: {exc}"
            ) from None
    if not np.isfinite(arr).all():
        raise InvalidArgumentError("product boxes contain NaN or infinite values")
    bad = np.flatnonzero((arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1]))
    if len(bad):
        raise InvalidArgumentError(
            f"product box {int(bad[0])} has no area: {arr[bad[0]].tolist()} (x1, y1, x2, y2)"
        )
    return arr


def group_rows(
    boxes: Sequence[BoundingBox] | npt.ArrayLike, *, min_row_overlap: float = 0.5
) -> tuple[ShelfRow, ...]:
    """Group product boxes into shelf rows, top to bottom; members left to right."""
    arr = _boxes_array(boxes)
    if not 0.0 < min_row_overlap <= 1.0:
        raise InvalidArgumentError(f"min_row_overlap must be in (0, 1], got {min_row_overlap}")
    order = np.argsort((arr[:, 1] + arr[:, 3]) / 2, kind="stable")
    rows: list[list[int]] = []
    for idx in order:
        y1, y2 = arr[idx, 1], arr[idx, 3]
        best, best_overlap = -1, 0.0
        for r, members in enumerate(rows):
            top = float(np.median(arr[members, 1]))
            bottom = float(np.median(arr[members, 3]))
            overlap = (min(y2, bottom) - max(y1, top)) / max(min(y2 - y1, bottom - top), 1e-9)
            if overlap >= min_row_overlap and overlap > best_overlap:
                best, best_overlap = r, overlap
        if best < 0:
            rows.append([int(idx)])
        else:
            rows[best].append(int(idx))
    rows.sort(key=lambda m: float(np.median(arr[m, 1])))
    return tuple(
        ShelfRow(
            index=r,
            members=tuple(sorted(members, key=lambda i: (arr[i, 0], arr[i, 2]))),
            top=float(np.median(arr[members, 1])),
            bottom=float(np.median(arr[members, 3])),
        )
        for r, members in enumerate(rows)
    )


def find_gaps(
    boxes: Sequence[BoundingBox] | npt.ArrayLike,
    shelf_extent: tuple[float, float] | None = None,
    *,
    min_gap_fraction: float = 0.5,
    min_row_overlap: float = 0.5,
) -> tuple[ShelfGap, ...]:
    """Empty space between products, row by row, wider than ``min_gap_fraction`` x the row's median width.

    ``shelf_extent`` is ``(left, right)`` of the shelf in pixels (for a rectified shelf image: ``(0, width)``);
    with it, empty space at either end of a row counts too. Returns gaps top row first, left to right.
    """
    if min_gap_fraction <= 0:
        raise InvalidArgumentError(f"min_gap_fraction must be > 0, got {min_gap_fraction}")
    arr = _boxes_array(boxes)
    if len(arr) == 0:
        return ()
    left = right = 0.0
    if shelf_extent is not None:
        left, right = (float(v) for v in shelf_extent)
        if not right > left:
            raise InvalidArgumentError(
                f"shelf_extent must be (left, right) with right > left, got {shelf_extent}"
            )
    gaps: list[ShelfGap] = []
    for row in group_rows(arr, min_row_overlap=min_row_overlap):
        members = list(row.members)
        threshold = min_gap_fraction * float(np.median(arr[members, 2] - arr[members, 0]))
        cursor = left if shelf_extent is not None else float(arr[members[0], 0])
        previous: int | None = None
        for idx in members:
            x1, x2 = float(arr[idx, 0]), float(arr[idx, 2])
            if x1 - cursor >= threshold:
                gaps.append(_gap(row, cursor, x1, previous, idx))
            if x2 > cursor:
                cursor, previous = x2, idx
        if shelf_extent is not None and right - cursor >= threshold:
            gaps.append(_gap(row, cursor, right, previous, None))
    return tuple(gaps)


def _gap(row: ShelfRow, x1: float, x2: float, left: int | None, right: int | None) -> ShelfGap:
    return ShelfGap(
        row=row.index,
        box=BoundingBox.from_xyxy(x1, row.top, x2, row.bottom),
        left_neighbour=left,
        right_neighbour=right,
    )
