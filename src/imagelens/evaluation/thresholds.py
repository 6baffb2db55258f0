"""Precision-recall from scored decisions, the threshold that reaches a target precision, and its PNG.

Input: one row per prediction (its score and whether it is a true positive) and the number of positives in the
truth. Predictions at one score enter together (a threshold cannot split a tie), so each curve point is a
threshold a user can set: "keep predictions scoring at least t".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class PRCurve:
    """``thresholds`` descending; ``precision[i]``/``recall[i]`` when keeping scores ``>= thresholds[i]``."""

    thresholds: FloatArray
    precision: FloatArray
    recall: FloatArray
    num_positives: int

    def average_precision(self) -> float | None:
        """COCO-style 101-point interpolated AP (``None`` without positives)."""
        if self.num_positives == 0:
            return None
        if not len(self.recall):
            return 0.0
        envelope = np.maximum.accumulate(self.precision[::-1])[::-1]
        points = np.linspace(0.0, 1.0, 101)
        idx = np.searchsorted(self.recall, points, side="left")
        return float(
            np.mean(np.where(idx < len(envelope), envelope[np.minimum(idx, len(envelope) - 1)], 0.0))
        )


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    target_precision: float
    threshold: float | None
    precision: float | None
    recall: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_precision": self.target_precision,
            "threshold": self.threshold,
            "precision": self.precision,
            "recall": self.recall,
        }


def pr_curve(scores: npt.ArrayLike, is_tp: npt.ArrayLike, num_positives: int) -> PRCurve:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    tp = np.asarray(is_tp, dtype=bool).reshape(-1)
    if len(s) != len(tp):
        raise InvalidArgumentError(f"got {len(s)} scores but {len(tp)} true-positive flags")
    if num_positives < 0:
        raise InvalidArgumentError(f"num_positives must be >= 0, got {num_positives}")
    order = np.argsort(-s, kind="stable")
    s, tp = s[order], tp[order]
    ctp = np.cumsum(tp)
    cfp = np.cumsum(~tp)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1] if len(s) else np.zeros(0, np.int64)
    precision = ctp[last] / np.maximum(ctp[last] + cfp[last], 1)
    recall = ctp[last] / num_positives if num_positives else np.zeros(len(last))
    return PRCurve(s[last], precision.astype(np.float64), recall.astype(np.float64), int(num_positives))


def threshold_for_precision(curve: PRCurve, target: float = 0.9) -> ThresholdChoice:
    """The lowest threshold whose precision is at least ``target`` (so the most recall at that precision)."""
    if not 0.0 < target <= 1.0:
        raise InvalidArgumentError(f"the target precision must be in (0, 1], got {target}")
    ok = np.flatnonzero(curve.precision >= target - 1e-12)
    if not len(ok):
        return ThresholdChoice(target, None, None, None)
    best = int(ok[np.argmax(curve.recall[ok])])  # ties in recall: the highest such threshold comes first
    return ThresholdChoice(
        target, float(curve.thresholds[best]), float(curve.precision[best]), float(curve.recall[best])
    )


def plot_pr(
    curves: dict[str, PRCurve], path: str | Path, *, title: str, choice: ThresholdChoice | None = None
) -> Path:
    """One PNG with a curve per entry (label: its AP); the recommended point is marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, curve in curves.items():
        ap = curve.average_precision()
        label = f"{name} (AP {ap:.3f})" if ap is not None else name
        ax.step(curve.recall, curve.precision, where="post", label=label)
    if choice is not None and choice.threshold is not None:
        ax.plot([choice.recall or 0.0], [choice.precision or 0.0], "o", color="black")
        ax.annotate(
            f"t={choice.threshold:.3g}", (choice.recall or 0.0, choice.precision or 0.0),
            textcoords="offset points", xytext=(6, -12),
        )  # fmt: skip
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(loc="lower left", fontsize="small")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
