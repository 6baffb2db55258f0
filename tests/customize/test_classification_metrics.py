"""Classification metrics on a hand-computed example, calibration on fixed scores, JSON inputs."""

from __future__ import annotations

import numpy as np
import pytest

from imagelens.calibration import reliability_diagram
from imagelens.customize.metrics import (
    average_precision,
    evaluate_classification,
    evaluate_coco_classification,
)
from imagelens.errors import InvalidArgumentError

# Four images, three classes. Top-1: right, wrong, right, wrong. Confidences 0.9, 0.9, 0.5, 0.45.
SCORES = np.array(
    [
        [0.90, 0.05, 0.05],
        [0.90, 0.10, 0.00],
        [0.20, 0.50, 0.30],
        [0.45, 0.30, 0.25],
    ]
)
LABELS = np.array([0, 1, 1, 2])


def test_hand_computed_example() -> None:
    m = evaluate_classification(LABELS, SCORES, class_names=["a", "b", "c"], top_k=2)
    assert m.accuracy_top1 == 0.5
    assert m.accuracy_top5 == 0.75  # top-2 here: image 1 (true b is 2nd) hits, image 3 (true c is 3rd) misses
    assert m.confusion_matrix.tolist() == [[1, 0, 0], [1, 1, 0], [1, 0, 0]]
    a, b, c = m.per_class
    assert (a.precision, a.recall, a.f1) == pytest.approx((1 / 3, 1.0, 0.5))
    assert (b.precision, b.recall, b.f1) == pytest.approx((1.0, 0.5, 2 / 3))
    assert (c.precision, c.recall, c.f1) == (0.0, 0.0, 0.0)  # never predicted: 0 by convention
    assert (a.support, b.support, c.support) == (1, 2, 1)
    # AP: a -> tie of two at 0.9, one positive: P=0.5 at R=1 -> 0.5.
    #     b -> 0.5(+) P1 R.5, 0.3(-), 0.1(+) P2/3 R1 -> .5*1 + .5*2/3.
    #     c -> 0.3(-), 0.25(+) P.5 R1 -> 0.5.
    assert a.average_precision == pytest.approx(0.5)
    assert b.average_precision == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert c.average_precision == pytest.approx(0.5)
    assert m.mean_average_precision == pytest.approx((0.5 + 5 / 6 + 0.5) / 3)
    assert m.macro_f1 == pytest.approx((0.5 + 2 / 3 + 0) / 3)


def test_ece_on_fixed_scores() -> None:
    # Bins of width 1/15: 0.9 -> (13/15, 14/15] with 2 images, accuracy 0.5; 0.5 -> (7/15, 8/15] accuracy 1;
    # 0.45 -> (6/15, 7/15] accuracy 0. ECE = 2/4*|0.5-0.9| + 1/4*|1-0.5| + 1/4*|0-0.45| = 0.4375.
    m = evaluate_classification(LABELS, SCORES)
    assert m.calibration_ece == pytest.approx(0.4375)
    filled = [(b.lower, b.count, b.accuracy) for b in m.calibration_bins if b.count]
    assert filled == [
        (pytest.approx(6 / 15), 1, 0.0),
        (pytest.approx(7 / 15), 1, 1.0),
        (pytest.approx(13 / 15), 2, 0.5),
    ]
    assert len(m.calibration_bins) == 15


def test_ece_bins_are_right_closed_and_zero_lands_in_the_first() -> None:
    ece, bins = reliability_diagram(np.array([0.0, 1.0, 0.2]), np.array([False, True, True]), n_bins=5)
    # 0.0 -> bin 0 (kept, not dropped); 0.2 -> (0, 0.2] -> bin 0 as well; 1.0 -> last bin.
    assert [b.count for b in bins] == [2, 0, 0, 0, 1]
    assert ece == pytest.approx(2 / 3 * abs(0.5 - 0.1))


def test_perfectly_calibrated_and_confident_model() -> None:
    scores = np.eye(4)
    m = evaluate_classification(np.arange(4), scores)
    assert m.accuracy_top1 == 1.0 and m.calibration_ece == 0.0 and m.mean_average_precision == 1.0


def test_scores_that_are_not_probabilities_give_no_ece() -> None:
    m = evaluate_classification(LABELS, SCORES * 10)
    assert m.calibration_ece is None and m.calibration_bins == ()
    assert m.accuracy_top1 == 0.5  # ranking metrics still work on logits


def test_ties_go_to_the_lower_index_for_top1_and_topk_alike() -> None:
    m = evaluate_classification(np.array([1, 0]), np.array([[0.5, 0.5], [0.5, 0.5]]), top_k=1)
    assert m.accuracy_top1 == 0.5 and m.accuracy_top5 == 0.5
    assert m.confusion_matrix.tolist() == [[1, 0], [1, 0]]


def test_average_precision_does_not_depend_on_tie_order() -> None:
    y = np.array([True, False, True, False])
    s = np.array([0.5, 0.5, 0.5, 0.1])
    ap1, _, _ = average_precision(y, s)
    ap2, _, _ = average_precision(y[::-1].copy(), s[::-1].copy())
    assert ap1 == ap2 == pytest.approx(2 / 3)
    assert average_precision(np.zeros(3, dtype=bool), np.ones(3))[0] is None


@pytest.mark.parametrize(
    ("labels", "scores", "fragment"),
    [
        ([0, 3], np.ones((2, 3)) / 3, r"class indices in \[0, 3\)"),
        ([0], np.ones((2, 3)) / 3, "2 integer class indices"),
        ([0, 1], np.ones(3), r"shape \(N, C\)"),
        ([0.5, 1], np.ones((2, 3)) / 3, "integer class indices"),
    ],
)
def test_bad_inputs_name_what_is_expected(labels: list[float], scores: np.ndarray, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        evaluate_classification(np.asarray(labels), scores)


GT = {
    "images": [{"id": 10}, {"id": 11}, {"id": 12}, {"id": 13}],
    "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 5, "name": "c"}],
    "annotations": [
        {"id": 1, "image_id": 10, "category_id": 1},
        {"id": 2, "image_id": 11, "category_id": 2},
        {"id": 3, "image_id": 12, "category_id": 2},
        {"id": 4, "image_id": 13, "category_id": 5},
    ],
}


def test_json_score_tables_by_id_or_name_equal_the_array_api() -> None:
    preds = [
        {"image_id": 10, "scores": {"1": 0.9, "2": 0.05, "5": 0.05}},
        {"image_id": 11, "scores": {"a": 0.9, "b": 0.1, "c": 0.0}},
        {"image_id": 12, "scores": {"1": 0.2, "b": 0.5, "5": 0.3}},
        {"image_id": 13, "scores": {"a": 0.45, "2": 0.3, "c": 0.25}},
    ]
    m = evaluate_coco_classification(GT, preds, top_k=2)
    ref = evaluate_classification(LABELS, SCORES, top_k=2)
    assert (m.accuracy_top1, m.accuracy_top5, m.calibration_ece) == (
        ref.accuracy_top1,
        ref.accuracy_top5,
        ref.calibration_ece,
    )
    assert [c.category_id for c in m.per_class] == [1, 2, 5]
    assert [c.name for c in m.per_class] == ["a", "b", "c"]


def test_json_one_row_per_class_and_missing_predictions() -> None:
    preds = [
        {"image_id": 10, "category_id": 1, "score": 0.8},
        {"image_id": 11, "category_id": 2, "score": 0.6},
        {"image_id": 11, "category_id": 1, "score": 0.3},
        {"image_id": 12, "category_id": "c", "score": 0.7},
    ]  # image 13 has no prediction: wrong, and outside the confusion matrix
    m = evaluate_coco_classification(GT, preds)
    assert m.accuracy_top1 == 0.5
    assert m.num_missing_predictions == 1
    assert int(m.confusion_matrix.sum()) == 3
    assert m.per_class[2].recall == 0.0 and m.per_class[2].support == 1


@pytest.mark.parametrize(
    ("preds", "fragment"),
    [
        ([{"image_id": 99, "category_id": 1, "score": 0.5}], "not a labelled image"),
        ([{"image_id": 10, "category_id": 4, "score": 0.5}], "neither a category id"),
        ([{"image_id": 10, "scores": {"zebra": 1.0}}], "neither a category id"),
        ([{"image_id": 10, "category_id": 1, "score": 0.5}] * 2, "second score"),
        ([{"image_id": 10}], "needs 'scores' or 'category_id'"),
    ],
)
def test_bad_json_predictions(preds: list[dict], fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        evaluate_coco_classification(GT, preds)


def test_ground_truth_with_two_labels_per_image_is_refused() -> None:
    gt = {"annotations": [{"image_id": 1, "category_id": 1}, {"image_id": 1, "category_id": 2}]}
    with pytest.raises(InvalidArgumentError, match="exactly one category per image"):
        evaluate_coco_classification(gt, [])


def test_simple_ground_truth_without_categories() -> None:
    gt = {
        "images": [{"id": 1}, {"id": 2}],
        "annotations": [{"image_id": 1, "category_id": 7}, {"image_id": 2, "category_id": 3}],
    }
    m = evaluate_coco_classification(
        gt, [{"image_id": 1, "scores": {"7": 1.0}}, {"image_id": 2, "scores": {"7": 0.6, "3": 0.4}}]
    )
    assert [c.category_id for c in m.per_class] == [3, 7]
    assert m.accuracy_top1 == 0.5
