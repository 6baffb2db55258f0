"""The one Detections type: validation, selection, transforms and conversions (property tests where they fit)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagelens import geometry
from imagelens.detections import Detections
from imagelens.numeric import l2_normalise, sigmoid, softmax
from imagelens.types import BoundingBox, DetectedObject, Tag

NAMES = ("cat", "dog", "person")


@st.composite
def detections(draw: st.DrawFn, max_n: int = 15) -> Detections:
    n = draw(st.integers(min_value=0, max_value=max_n))
    boxes = []
    for _ in range(n):
        x1 = draw(st.floats(0, 500, width=32))
        y1 = draw(st.floats(0, 500, width=32))
        boxes.append((x1, y1, x1 + draw(st.floats(1, 200, width=32)), y1 + draw(st.floats(1, 200, width=32))))
    scores = draw(st.lists(st.floats(0, 1, width=32), min_size=n, max_size=n))
    ids = draw(st.lists(st.integers(0, len(NAMES) - 1), min_size=n, max_size=n))
    return Detections(
        np.asarray(boxes, np.float64).reshape(-1, 4),
        np.asarray(scores),
        np.asarray(ids),
        NAMES,
        data={"query": np.arange(n) // 2},
    )


def sample() -> Detections:
    return Detections(
        boxes=[[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]],
        scores=[0.5, 0.9, 0.7],
        class_ids=[0, 0, 1],
        class_names=("a", "b"),
        keypoints=np.zeros((3, 5, 2)),
        data={"query": [3, 3, 4]},
    )


def test_columns_are_validated_with_expected_and_actual_values() -> None:
    with pytest.raises(ValueError, match=r"boxes must have shape \(2, 4\)"):
        Detections(np.zeros((3, 4)), [0.1, 0.2], [0, 0], ("a",))
    with pytest.raises(ValueError, match="class_ids must index class_names"):
        Detections(np.zeros((1, 4)), [0.1], [1], ("a",))
    with pytest.raises(ValueError, match=r"scores must be in \[0, 1\]"):
        Detections(np.zeros((1, 4)), [1.5], [0], ("a",))
    with pytest.raises(ValueError, match="data column 'query' must have length 1"):
        Detections(np.zeros((1, 4)), [0.5], [0], ("a",), data={"query": [1, 2]})
    with pytest.raises(ValueError, match="keypoints must have shape"):
        Detections(np.zeros((1, 4)), [0.5], [0], ("a",), keypoints=np.zeros((1, 5)))
    with pytest.raises(ValueError, match="masks must have shape"):
        Detections(np.zeros((1, 4)), [0.5], [0], ("a",), masks=np.zeros((2, 4, 4), bool))


def test_arrays_are_copied_and_read_only() -> None:
    boxes = np.zeros((1, 4))
    det = Detections(boxes, [0.5], [0], ("a",))
    boxes[0, 0] = 99
    assert det.boxes[0, 0] == 0
    with pytest.raises(ValueError):
        det.scores[0] = 1.0


def test_empty_is_requested_nothing_found() -> None:
    empty = Detections.empty(("a", "b"), data_keys=("query",))
    assert len(empty) == 0 and empty.boxes.shape == (0, 4) and empty.class_names == ("a", "b")
    assert (
        empty.to_objects() == () and empty.sorted().above(0.5).nms(0.5).first_per("query").to_people() == ()
    )


def test_selection_keeps_every_column_in_step() -> None:
    det = sample()
    picked = det[np.array([2, 0])]
    assert picked.scores.tolist() == [0.7, 0.5]
    assert picked.names == ("b", "a")
    assert picked.data["query"].tolist() == [4, 3]
    assert picked.keypoints is not None and picked.keypoints.shape == (2, 5, 2)
    assert len(det[det.scores > 0.6]) == 2
    assert det.head(1).scores.tolist() == [0.5]


def test_sorted_above_of_class_first_per() -> None:
    det = sample().sorted()
    assert det.scores.tolist() == [0.9, 0.7, 0.5]
    assert det.above(0.7).scores.tolist() == [0.9, 0.7]
    assert det.of_class("b").scores.tolist() == [0.7]
    assert len(det.of_class("zebra")) == 0
    assert det.first_per("query").scores.tolist() == [0.9, 0.7]  # one per query: its best
    assert det.first_per("no-such-column") is det


def test_conversions_to_result_types_and_back() -> None:
    det = sample().sorted()
    objects = det.to_objects()
    assert objects[0] == DetectedObject(BoundingBox(1, 1, 9, 9), (Tag("a", 0.9),))
    assert det.to_people()[1].confidence == pytest.approx(0.7)
    assert det.to_faces()[2].box == BoundingBox(0, 0, 10, 10)
    back = Detections.from_objects(objects)
    assert (
        back.names == det.names
        and np.allclose(back.boxes, det.boxes)
        and np.allclose(back.scores, det.scores)
    )


def test_clipped_and_concatenate() -> None:
    det = Detections([[-5, -5, 20, 30]], [0.5], [0], ("a",))
    assert det.clipped(10, 12).boxes.tolist() == [[0, 0, 10, 12]]
    both = Detections.concatenate([det, det])
    assert len(both) == 2
    with pytest.raises(ValueError, match="same class_names"):
        Detections.concatenate([det, Detections.empty(("b",))])


@given(detections(), st.floats(0.05, 0.95))
@settings(max_examples=60, deadline=None)
def test_nms_leaves_no_same_class_pair_above_the_threshold(det: Detections, iou: float) -> None:
    kept = det.nms(iou)
    assert len(kept) <= len(det)
    assert list(kept.scores) == sorted(kept.scores, reverse=True)
    for cid in np.unique(kept.class_ids):
        boxes = kept.boxes[kept.class_ids == cid]
        m = geometry.iou_matrix(boxes, boxes)
        np.fill_diagonal(m, 0.0)
        assert (m <= iou + 1e-9).all()
    agnostic = det.nms(iou, class_agnostic=True)
    m = geometry.iou_matrix(agnostic.boxes, agnostic.boxes)
    np.fill_diagonal(m, 0.0)
    assert (m <= iou + 1e-9).all()


@given(detections())
@settings(max_examples=60, deadline=None)
def test_sorted_is_a_stable_permutation(det: Detections) -> None:
    out = det.sorted()
    assert sorted(out.scores.tolist()) == sorted(det.scores.tolist())
    assert list(out.scores) == sorted(det.scores, reverse=True)
    assert out.sorted().scores.tolist() == out.scores.tolist()


def test_numeric_functions_are_stable() -> None:
    assert sigmoid([-1e308, 0.0, 1e308]).tolist() == [0.0, 0.5, 1.0]
    assert np.float32(np.finfo(np.float32).min) < 0 and sigmoid(np.finfo(np.float32).min) == 0.0
    probs = softmax([[1000.0, 1000.0], [0.0, np.log(3.0)]])
    assert np.allclose(probs, [[0.5, 0.5], [0.25, 0.75]])
    unit = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]], np.float32))
    assert unit.dtype == np.float32 and np.allclose(unit, [[0.6, 0.8], [0.0, 0.0]])
