"""Score calibration maths on fixed and seeded synthetic scores (no model)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from imagelens.calibration import (
    IDENTITY,
    Platt,
    TagCalibration,
    brier_score,
    caption_labels,
    expected_calibration_error,
    fit_platt,
    fit_tag_calibration,
)
from imagelens.errors import InvalidArgumentError
from imagelens.numeric import sigmoid


def test_sigmoid_is_exact_and_does_not_overflow() -> None:
    x = np.array([-1000.0, -2.0, 0.0, 2.0, 1000.0])
    with np.errstate(over="raise"):
        y = sigmoid(x)
    assert y[2] == 0.5
    assert y[3] == pytest.approx(1 / (1 + math.exp(-2)), abs=1e-15)
    assert y[1] + y[3] == pytest.approx(1.0, abs=1e-15)
    assert y[0] == 0.0 and y[4] == 1.0


def test_platt_transform_on_fixed_logits() -> None:
    p = Platt(a=2.0, b=-1.0)
    np.testing.assert_allclose(p([0.0, 0.5, 1.0]), sigmoid([-1.0, 0.0, 1.0]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(IDENTITY([-3.0, 3.0]), sigmoid([-3.0, 3.0]))


@pytest.mark.parametrize("a", [0.0, -1.0, float("nan")])
def test_platt_refuses_non_increasing_or_nan_slopes(a: float) -> None:
    with pytest.raises(InvalidArgumentError):
        Platt(a=a, b=0.0)


def test_fit_two_points_has_the_closed_form_answer() -> None:
    # One negative at -1, one positive at +1: Platt's targets are 1/3 and 2/3, so sigmoid(a) = 2/3 and b = 0.
    p = fit_platt([-1.0, 1.0], [0, 1])
    assert p.a == pytest.approx(math.log(2.0), abs=1e-7)
    assert p.b == pytest.approx(0.0, abs=1e-7)


def test_fit_recovers_the_generating_parameters() -> None:
    rng = np.random.default_rng(7)
    scores = rng.normal(0.0, 2.0, 40_000)
    labels = rng.random(scores.size) < sigmoid(1.7 * scores - 0.8)
    p = fit_platt(scores, labels)
    assert p.a == pytest.approx(1.7, abs=0.05)
    assert p.b == pytest.approx(-0.8, abs=0.05)


def test_fit_improves_calibration_of_an_overconfident_score() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(-2.0, 3.0, 20_000)
    # the truth is flatter and higher than the raw sigmoid says
    labels = rng.random(logits.size) < sigmoid(0.4 * logits + 0.5)
    raw = sigmoid(logits)
    fitted = fit_platt(logits[::2], labels[::2])(logits[1::2])
    ece_fitted = expected_calibration_error(fitted, labels[1::2])
    ece_raw = expected_calibration_error(raw[1::2], labels[1::2])
    assert ece_fitted < 0.04 and ece_fitted < ece_raw / 3
    assert brier_score(fitted, labels[1::2]) < brier_score(raw[1::2], labels[1::2])


def test_constant_scores_fit_the_smoothed_base_rate() -> None:
    labels = [1, 1, 1] + [0] * 7
    p = fit_platt(np.zeros(10), labels)
    target = (3 * (4 / 5) + 7 * (1 / 9)) / 10  # Platt's regularised targets, averaged
    assert p.a > 0
    assert float(p(0.0)[()]) == pytest.approx(target, abs=1e-6)


def test_fit_never_reverses_order_even_on_anticorrelated_scores() -> None:
    p = fit_platt([2.0, 1.0, -1.0, -2.0], [0, 0, 1, 1])
    assert p.a > 0
    probs = p([-2.0, 2.0])
    assert probs[1] >= probs[0]


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        ([0.0, 1.0], [1, 1], "positive and negative"),
        ([0.0, 1.0], [0, 0], "positive and negative"),
        ([0.0, 1.0], [0, 1, 1], "same length"),
        ([0.0, float("inf")], [0, 1], "finite"),
        ([0.0, 1.0], [0, 2], "0 or 1"),
        ([], [], "non-empty"),
    ],
)
def test_fit_rejects_bad_input(scores: list[float], labels: list[int], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        fit_platt(scores, labels)


def test_tag_calibration_applies_per_tag_overrides_and_round_trips(tmp_path: Path) -> None:
    cal = TagCalibration(
        default=Platt(1.0, 0.0), per_tag={"dog": Platt(2.0, 1.0)}, threshold=0.3, source="unit"
    )
    logits = np.array([[0.0, 0.0], [1.0, -1.0]])
    probs = cal.apply(logits, ["cat", "dog"])
    np.testing.assert_allclose(probs, sigmoid([[0.0, 1.0], [1.0, -1.0]]))
    path = tmp_path / "cal.json"
    cal.save(path)
    again = TagCalibration.load(path)
    assert again == cal
    with pytest.raises(InvalidArgumentError, match="2 tags"):
        cal.apply(np.zeros((1, 3)), ["cat", "dog"])
    with pytest.raises(InvalidArgumentError, match="threshold"):
        TagCalibration(threshold=1.5)
    with pytest.raises(InvalidArgumentError, match="format"):
        TagCalibration.from_dict({"format": "something-else/9"})


def test_fit_tag_calibration_gives_own_parameters_only_to_supported_tags() -> None:
    rng = np.random.default_rng(11)
    n = 400
    logits = rng.normal(0.0, 2.0, (n, 3))
    labels = np.zeros((n, 3), dtype=bool)
    labels[:, 0] = rng.random(n) < sigmoid(2.0 * logits[:, 0] - 1.0)  # well supported, own slope
    labels[:, 1] = rng.random(n) < sigmoid(0.5 * logits[:, 1])
    labels[:3, 2] = True  # three positives only: shares the global fit
    cal = fit_tag_calibration(
        logits, labels, ["a", "b", "c"], min_examples=20, threshold=0.4, source="synthetic"
    )
    assert set(cal.per_tag) == {"a", "b"}
    assert cal.per_tag["a"].a == pytest.approx(2.0, abs=0.5)
    assert cal.per_tag["b"].a == pytest.approx(0.5, abs=0.25)
    assert cal.threshold == 0.4 and cal.source == "synthetic"
    a, b = cal.parameters(["a", "b", "c"])
    assert (a[2], b[2]) == (cal.default.a, cal.default.b)


def test_ece_and_brier_on_fixed_numbers() -> None:
    # bins of width 0.5: {0.1, 0.2} with labels {0, 1} -> |0.15 - 0.5| ; {0.9} with label 1 -> |0.9 - 1|
    assert expected_calibration_error([0.1, 0.2, 0.9], [0, 1, 1], n_bins=2) == pytest.approx(
        (2 * 0.35 + 0.1) / 3
    )
    assert brier_score([0.1, 0.2, 0.9], [0, 1, 1]) == pytest.approx((0.01 + 0.64 + 0.01) / 3)
    assert expected_calibration_error([1.0], [1], n_bins=10) == 0.0  # p = 1.0 falls in the last bin


def test_caption_labels_match_whole_words_and_plurals() -> None:
    texts = [["Two dogs playing on the beach.", "A man throws a Frisbee"], ["a busy city street", "puppies"]]
    tags = ["dog", "beach", "man", "frisbee", "city street", "street", "cat", "puppy", "ocean beach", "ma"]
    labels = caption_labels(texts, tags)
    assert labels.shape == (2, len(tags))
    assert [t for t, y in zip(tags, labels[0], strict=True) if y] == ["dog", "beach", "man", "frisbee"]
    assert [t for t, y in zip(tags, labels[1], strict=True) if y] == ["city street", "street", "puppy"]


def test_one_ece_serves_tags_and_custom_classifiers() -> None:
    """ECE has one home: the classifier metrics' calibration is :func:`reliability_diagram` on the top-1
    confidence, and bins are right-closed everywhere (0.5 with two bins lies in the first)."""
    import imagelens.calibration
    import imagelens.numeric
    from imagelens.calibration import reliability_diagram
    from imagelens.customize.metrics import evaluate_classification

    assert imagelens.calibration.sigmoid is imagelens.numeric.sigmoid  # no second sigmoid
    assert expected_calibration_error([0.5, 0.6], [1, 0], n_bins=2) == pytest.approx((0.5 + 0.6) / 2)
    rng = np.random.default_rng(3)
    scores = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 4, size=50)
    m = evaluate_classification(labels, scores, n_bins=15)
    correct = scores.argmax(axis=1) == labels
    ece, bins = reliability_diagram(scores.max(axis=1), correct, n_bins=15)
    assert m.calibration_ece == ece == expected_calibration_error(scores.max(axis=1), correct, n_bins=15)
    assert m.calibration_bins == bins
