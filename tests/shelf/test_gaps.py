"""Gaps between product boxes on synthetic shelves whose empty spaces are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagelens.errors import InvalidArgumentError
from imagelens.shelf.gaps import find_gaps, group_rows
from imagelens.types import BoundingBox


def _shelf() -> tuple[list[BoundingBox], list[tuple[int, float, float]]]:
    """Two rows of 60-px products; known holes as (row, x1, x2)."""
    boxes = []
    # Row 0 (y 10..110): products at 0, 60, [gap 120..240], 240, 300, 360 ; shelf to 500 -> end gap 420..500
    for x in (0, 60, 240, 300, 360):
        boxes.append(BoundingBox(x, 10 + (x % 7), 60, 100))
    # Row 1 (y 150..250): [gap 0..50], 50, 110, 170 (a 20-px slit 230..250 is too narrow), 250, 310, 370, 430
    for x in (50, 110, 170, 250, 310, 370, 430):
        boxes.append(BoundingBox(x, 150 - (x % 5), 60, 100))
    expected = [(0, 120.0, 240.0), (0, 420.0, 500.0), (1, 0.0, 50.0)]
    return boxes, expected


def test_rows_and_gaps_are_found() -> None:
    boxes, expected = _shelf()
    rows = group_rows(boxes)
    assert [len(r.members) for r in rows] == [5, 7]
    assert rows[0].members == (0, 1, 2, 3, 4)
    gaps = find_gaps(boxes, shelf_extent=(0, 500))
    assert [(g.row, g.box.x, g.box.x2) for g in gaps] == expected
    assert gaps[0].left_neighbour == 1 and gaps[0].right_neighbour == 2
    assert gaps[1].right_neighbour is None and gaps[2].left_neighbour is None
    assert all(g.box.y < g.box.y2 for g in gaps)


def test_without_shelf_extent_only_inner_gaps() -> None:
    boxes, _ = _shelf()
    gaps = find_gaps(boxes)
    assert [(g.row, g.box.x, g.box.x2) for g in gaps] == [(0, 120.0, 240.0)]


def test_threshold_is_relative_to_median_width() -> None:
    boxes, _ = _shelf()
    # The 20-px slit in row 1 is 1/3 of the 60-px median width.
    slits = find_gaps(boxes, min_gap_fraction=0.3)
    assert (1, 230.0, 250.0) in [(g.row, g.box.x, g.box.x2) for g in slits]
    assert (1, 230.0, 250.0) not in [
        (g.row, g.box.x, g.box.x2) for g in find_gaps(boxes, min_gap_fraction=0.4)
    ]


def test_tall_product_does_not_merge_rows() -> None:
    boxes, _ = _shelf()
    boxes.append(BoundingBox(440, 20, 50, 200))  # a tall item reaching into the lower shelf's band
    rows = group_rows(boxes)
    assert len(rows) == 2
    assert sum(len(r.members) for r in rows) == len(boxes)


def test_overlapping_boxes_leave_no_gap() -> None:
    boxes = [(0, 0, 60, 100), (50, 0, 110, 100), (100, 0, 160, 100)]
    assert find_gaps(boxes, shelf_extent=(0, 160)) == ()


def test_empty_input() -> None:
    assert find_gaps([]) == ()
    assert group_rows(np.zeros((0, 4))) == ()


@pytest.mark.parametrize(
    ("boxes", "kwargs", "needle"),
    [
        ([(0, 0, 0, 10)], {}, "no area"),
        ([(0, 0, 10)], {}, "xyxy"),
        ([(0, 0, float("nan"), 10)], {}, "NaN"),
        ([(0, 0, 10, 10)], {"shelf_extent": (10, 0)}, "right > left"),
        ([(0, 0, 10, 10)], {"min_gap_fraction": 0}, "min_gap_fraction"),
    ],
)
def test_bad_inputs(boxes: list[tuple[float, ...]], kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidArgumentError, match=needle):
        find_gaps(boxes, **kwargs)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(st.permutations(list(range(12))))
def test_box_order_does_not_matter(order: list[int]) -> None:
    boxes, expected = _shelf()
    gaps = find_gaps([boxes[i] for i in order], shelf_extent=(0, 500))
    assert [(g.row, g.box.x, g.box.x2) for g in gaps] == expected


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(20, 80), min_size=2, max_size=10),
    st.lists(st.floats(0, 150), min_size=10, max_size=10),
)
def test_gaps_never_overlap_products(widths: list[float], spaces: list[float]) -> None:
    x, boxes = 0.0, []
    for w, s in zip(widths, spaces, strict=False):
        x += s
        boxes.append((x, 0.0, x + w, 100.0))
        x += w
    for gap in find_gaps(boxes, shelf_extent=(0.0, x + 10.0)):
        for b in boxes:
            assert gap.box.x2 <= b[0] + 1e-9 or gap.box.x >= b[2] - 1e-9
