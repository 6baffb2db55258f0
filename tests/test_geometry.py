from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagelens import geometry
from imagelens.types import BoundingBox

coord = st.floats(min_value=0, max_value=1000, allow_nan=False, width=32)


@st.composite
def boxes(draw: st.DrawFn, max_n: int = 12) -> np.ndarray:
    n = draw(st.integers(min_value=1, max_value=max_n))
    out = []
    for _ in range(n):
        x1, y1 = draw(coord), draw(coord)
        w = draw(st.floats(min_value=0.5, max_value=300, width=32))
        h = draw(st.floats(min_value=0.5, max_value=300, width=32))
        out.append((x1, y1, x1 + w, y1 + h))
    return np.asarray(out, dtype=np.float64)


@given(boxes(), boxes())
@settings(max_examples=60, deadline=None)
def test_iou_symmetric_and_bounded(a: np.ndarray, b: np.ndarray) -> None:
    m = geometry.iou_matrix(a, b)
    assert m.shape == (len(a), len(b))
    assert np.all(m >= 0) and np.all(m <= 1)
    np.testing.assert_allclose(m, geometry.iou_matrix(b, a).T, atol=1e-12)


@given(boxes())
@settings(max_examples=40, deadline=None)
def test_iou_with_itself_is_one(a: np.ndarray) -> None:
    np.testing.assert_allclose(np.diag(geometry.iou_matrix(a, a)), 1.0, atol=1e-9)


@given(boxes())
@settings(max_examples=40, deadline=None)
def test_xywh_round_trip(a: np.ndarray) -> None:
    np.testing.assert_allclose(geometry.xywh_to_xyxy(geometry.xyxy_to_xywh(a)), a, atol=1e-9)


@given(boxes(max_n=30), st.floats(min_value=0.1, max_value=0.9))
@settings(max_examples=60, deadline=None)
def test_nms_leaves_no_pair_above_threshold(a: np.ndarray, thr: float) -> None:
    scores = np.linspace(1, 0, len(a))
    keep = geometry.nms(a, scores, thr)
    kept = a[keep]
    ious = geometry.iou_matrix(kept, kept)
    np.fill_diagonal(ious, 0)
    assert np.all(ious <= thr + 1e-12)
    assert keep[0] == 0  # the best box always survives
    assert list(scores[keep]) == sorted(scores[keep], reverse=True)


def test_iou_known_value() -> None:
    a = BoundingBox(0, 0, 10, 10)
    b = BoundingBox(5, 0, 10, 10)
    assert geometry.iou(a, b) == pytest.approx(50 / 150)


def test_empty_inputs() -> None:
    assert geometry.iou_matrix([], [[0, 0, 1, 1]]).shape == (0, 1)
    assert geometry.nms(np.zeros((0, 4)), [], 0.5).tolist() == []


def test_bad_shapes_raise_with_the_actual_shape() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        geometry.as_xyxy([[0, 0, 1], [1, 1, 2]])
    with pytest.raises(ValueError, match="3 boxes but 2 scores"):
        geometry.nms(np.zeros((3, 4)), [1, 2], 0.5)


@given(st.permutations([(10.0, 10.0), (110.0, 20.0), (100.0, 80.0), (5.0, 70.0)]))
def test_quad_ordered_clockwise_from_top_left(points: list[tuple[float, float]]) -> None:
    ordered = geometry.order_quad_clockwise(points)
    assert ordered.tolist() == [[10.0, 10.0], [110.0, 20.0], [100.0, 80.0], [5.0, 70.0]]


def test_clip_box_stays_inside() -> None:
    clipped = geometry.clip_box(BoundingBox(-5, -5, 30, 30), 20, 10)
    assert clipped.xyxy() == (0, 0, 20, 10)
