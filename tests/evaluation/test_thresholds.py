"""PR curves from scored decisions, the threshold for a target precision, COCO's 101-point AP, the PNG and the
report's JSON shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.errors import InvalidArgumentError
from imagelens.evaluation import EvalReport, pr_curve, threshold_for_precision
from imagelens.evaluation.thresholds import plot_pr


def test_curve_points_are_thresholds_and_ties_enter_together() -> None:
    curve = pr_curve([0.9, 0.8, 0.8, 0.3], [True, True, False, True], num_positives=4)
    assert curve.thresholds.tolist() == [0.9, 0.8, 0.3]
    assert curve.precision.tolist() == pytest.approx([1.0, 2 / 3, 3 / 4])
    assert curve.recall.tolist() == pytest.approx([0.25, 0.5, 0.75])


def test_threshold_for_precision_picks_the_most_recall() -> None:
    curve = pr_curve([0.95, 0.9, 0.7, 0.6, 0.5], [True, True, True, False, True], num_positives=5)
    choice = threshold_for_precision(curve, 0.8)
    assert (
        choice.threshold == 0.5
        and choice.precision == pytest.approx(0.8)
        and choice.recall == pytest.approx(0.8)
    )
    strict = threshold_for_precision(curve, 1.0)
    assert strict.threshold == 0.7 and strict.recall == pytest.approx(0.6)
    none = threshold_for_precision(pr_curve([0.5], [False], 1), 0.9)
    assert none.threshold is None and none.to_dict()["recall"] is None
    with pytest.raises(InvalidArgumentError):
        threshold_for_precision(curve, 0.0)


def test_average_precision_is_the_101_point_interpolation() -> None:
    assert pr_curve([0.9, 0.8], [True, True], 2).average_precision() == pytest.approx(1.0)
    half = pr_curve([0.9, 0.8], [True, False], 2).average_precision()
    assert half == pytest.approx(51 / 101)  # precision 1 up to recall 0.5 (51 of 101 points), 0 beyond
    assert pr_curve([], [], 0).average_precision() is None
    assert pr_curve([], [], 3).average_precision() == 0.0


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    curve = pr_curve(np.linspace(1, 0, 20), np.arange(20) % 3 != 0, 15)
    out = plot_pr({"a": curve}, tmp_path / "pr.png", title="t", choice=threshold_for_precision(curve, 0.6))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_json_shape_and_table() -> None:
    report = EvalReport("objects", "m", "d", 3, {"mAP": 0.5, "AP50": float("nan")}, {"threshold": 0.4, "recall": 0.3,
                        "precision": 0.9, "target_precision": 0.9})  # fmt: skip
    data = report.to_dict()
    assert list(data) == ["feature", "model", "data", "n", "metrics", "threshold"]
    assert data["metrics"] == {"mAP": 0.5, "AP50": None}
    assert "threshold 0.4000 reaches precision 0.9000" in report.table()
