"""Uncertainty sampling: which unlabelled image to label next."""

from __future__ import annotations

import numpy as np
import pytest

from imagelens.customize.active import rank_for_labeling, uncertainty
from imagelens.errors import InvalidArgumentError

PROBS = np.array(
    [
        [0.98, 0.01, 0.01],  # sure
        [0.50, 0.49, 0.01],  # torn between two classes
        [0.34, 0.33, 0.33],  # no idea at all
        [0.60, 0.20, 0.20],
    ]
)


def test_scores_by_hand() -> None:
    assert uncertainty(PROBS, "margin") == pytest.approx([0.03, 0.99, 0.99, 0.6])
    assert uncertainty(PROBS, "least_confidence") == pytest.approx([0.02, 0.5, 0.66, 0.4])
    entropy = uncertainty(PROBS, "entropy")
    expected = -(PROBS * np.log(PROBS)).sum(axis=1) / np.log(3)
    assert entropy == pytest.approx(expected)
    assert entropy[2] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("method", "order"),
    [("margin", [1, 2, 3, 0]), ("entropy", [2, 3, 1, 0]), ("least_confidence", [2, 1, 3, 0])],
)
def test_most_uncertain_first(method: str, order: list[int]) -> None:
    ranked = rank_for_labeling(PROBS, method=method, image_ids=["a", "b", "c", "d"])  # type: ignore[arg-type]
    assert [c.index for c in ranked] == order
    assert [c.image_id for c in ranked] == ["abcd"[i] for i in order]
    assert all(x.uncertainty >= y.uncertainty for x, y in zip(ranked, ranked[1:], strict=False))


def test_ties_keep_input_order_and_top_limits() -> None:
    same = np.tile([0.5, 0.5], (4, 1))
    assert [c.index for c in rank_for_labeling(same)] == [0, 1, 2, 3]
    assert len(rank_for_labeling(PROBS, top=2)) == 2


@pytest.mark.parametrize(
    ("probs", "fragment"),
    [
        (np.ones((2, 1)), "C >= 2"),
        (np.array([[1.5, -0.5]]), r"in \[0, 1\]"),
        (np.array([[np.nan, 0.5]]), "finite"),
    ],
)
def test_bad_probabilities(probs: np.ndarray, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        uncertainty(probs)


def test_bad_method_and_ids() -> None:
    with pytest.raises(InvalidArgumentError, match="method must be one of"):
        uncertainty(PROBS, "random")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="2 image ids for 4 rows"):
        rank_for_labeling(PROBS, image_ids=[1, 2])
