"""Classification metrics: top-k accuracy, per-class precision/recall/F1, confusion matrix, one-vs-rest average
precision per class (the step-wise sum used by scikit-learn, no interpolation), and expected calibration error on
the top-1 confidence in 15 equal-width bins (:func:`imagelens.calibration.reliability_diagram`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.calibration import CalibrationBin, reliability_diagram
from imagelens.customize.metrics._columns import BoolArray, FloatArray, IntArray
from imagelens.errors import InvalidArgumentError

ECE_BINS = 15


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """One class. ``average_precision`` is ``None`` when the class has no positive example."""

    index: int
    category_id: int
    name: str
    support: int
    predicted: int
    precision: float
    recall: float
    f1: float
    average_precision: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category_id": self.category_id,
            "name": self.name,
            "support": self.support,
            "predicted": self.predicted,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "average_precision": self.average_precision,
        }


@dataclass(frozen=True, slots=True, eq=False)
class ClassificationMetrics:
    """Classification metrics. Rows of ``confusion_matrix`` are true classes, columns predicted classes; images
    without any prediction are counted wrong and left out of the matrix (``num_missing_predictions``)."""

    accuracy_top1: float
    accuracy_top5: float
    top_k: int
    per_class: tuple[ClassMetrics, ...]
    confusion_matrix: IntArray
    macro_precision: float
    macro_recall: float
    macro_f1: float
    mean_average_precision: float | None
    calibration_ece: float | None
    calibration_bins: tuple[CalibrationBin, ...]
    pr_curves: tuple[tuple[FloatArray, FloatArray], ...]
    num_images: int
    num_missing_predictions: int

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.per_class]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy_top1": self.accuracy_top1,
            "accuracy_top5": self.accuracy_top5,
            "top_k": self.top_k,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "mean_average_precision": self.mean_average_precision,
            "calibration_ece": self.calibration_ece,
            "num_images": self.num_images,
            "num_missing_predictions": self.num_missing_predictions,
            "per_class": [c.to_dict() for c in self.per_class],
            "confusion_matrix": {"labels": self.class_names, "matrix": self.confusion_matrix.tolist()},
            "calibration_bins": [
                {
                    "lower": b.lower,
                    "upper": b.upper,
                    "count": b.count,
                    "accuracy": b.accuracy,
                    "confidence": b.confidence,
                }
                for b in self.calibration_bins
            ],
            "pr_curves": [
                {"name": c.name, **_curve_points(rec, prec)}
                for c, (rec, prec) in zip(self.per_class, self.pr_curves, strict=True)
                if len(rec)
            ],
        }


def _curve_points(recall: FloatArray, precision: FloatArray, most: int = 201) -> dict[str, list[float]]:
    """A PR curve as JSON lists, rounded to 4 places, thinned evenly to at most ``most`` points (ends kept)."""
    keep = np.unique(np.linspace(0, len(recall) - 1, min(most, len(recall))).round().astype(int))
    return {
        "recall": [round(float(v), 4) for v in recall[keep]],
        "precision": [round(float(v), 4) for v in precision[keep]],
    }


def _ranks_of_true(labels: IntArray, scores: FloatArray) -> IntArray:
    """0-based rank of the true class when classes are ordered by score, ties by class index (as argmax)."""
    n, c = scores.shape
    true = scores[np.arange(n), labels]
    idx = np.arange(c)[None, :]
    higher = (scores > true[:, None]) | ((scores == true[:, None]) & (idx < labels[:, None]))
    ranks = higher.sum(axis=1)
    return np.where(np.isneginf(true), c, ranks).astype(np.int64)


def average_precision(positive: BoolArray, scores: FloatArray) -> tuple[float | None, FloatArray, FloatArray]:
    """One-vs-rest AP as ``sum (R_n - R_{n-1}) * P_n`` over distinct score thresholds, highest first.

    Returns (AP or ``None`` without positives, recall curve, precision curve). Equal scores form one threshold,
    so the result does not depend on the order of tied examples.
    """
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0 or len(scores) == 0:
        return None, np.zeros(0), np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], positive[order]
    last_of_tie = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
    tp = np.cumsum(y)[last_of_tie].astype(float)
    fp = (last_of_tie + 1) - tp
    prec = tp / (tp + fp)
    rec = tp / n_pos
    ap = float(np.sum(np.diff(np.r_[0.0, rec]) * prec))
    return ap, rec, prec


def evaluate_classification(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    class_names: Sequence[str] | None = None,
    category_ids: Sequence[int] | None = None,
    top_k: int = 5,
    n_bins: int = ECE_BINS,
) -> ClassificationMetrics:
    """Metrics for single-label classification.

    ``labels``: (N,) true class indices in ``[0, C)``. ``scores``: (N, C) class scores, usually probabilities;
    NaN or -inf marks a class the model did not score (never counted as a hit). The predicted class is the
    highest score, ties going to the lower index. Top-k counts a hit when the true class is among the k best
    (with ``C <= k`` that is every scored true class). ECE needs probabilities: it is ``None`` when a score lies
    outside [0, 1].
    """
    y = np.asarray(labels)
    s = np.array(scores, dtype=np.float64, copy=True)
    if s.ndim != 2:
        raise InvalidArgumentError(f"scores must have shape (N, C), got {s.shape}")
    n, c = s.shape
    if c < 1:
        raise InvalidArgumentError("scores must have at least one class column")
    if y.shape != (n,) or (n and not np.issubdtype(y.dtype, np.integer)):
        raise InvalidArgumentError(
            f"labels must be {n} integer class indices (one per row of scores), got {y.shape}"
        )
    y = y.astype(np.int64)
    if n and (y.min() < 0 or y.max() >= c):
        raise InvalidArgumentError(
            f"labels must be class indices in [0, {c}), got values in [{y.min()}, {y.max()}]"
        )
    if top_k < 1:
        raise InvalidArgumentError(f"top_k must be >= 1, got {top_k}")
    names = [str(i) for i in range(c)] if class_names is None else [str(x) for x in class_names]
    ids = list(range(c)) if category_ids is None else [int(x) for x in category_ids]
    if len(names) != c or len(ids) != c:
        raise InvalidArgumentError(
            f"expected {c} class names and ids (one per score column), got {len(names)}/{len(ids)}"
        )
    s[np.isnan(s)] = -np.inf
    if np.isposinf(s).any():
        raise InvalidArgumentError("scores must not contain +inf")

    scored = np.isfinite(s).any(axis=1) if n else np.zeros(0, dtype=bool)
    pred = np.where(scored, np.argmax(s, axis=1) if n else np.zeros(0, dtype=np.int64), -1)
    ranks = _ranks_of_true(y, s) if n else np.zeros(0, dtype=np.int64)
    acc1 = float(np.mean(ranks < 1)) if n else 0.0
    acc5 = float(np.mean(ranks < top_k)) if n else 0.0

    cm = np.zeros((c, c), dtype=np.int64)
    np.add.at(cm, (y[scored], pred[scored]), 1)
    support = np.bincount(y, minlength=c)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)

    per_class: list[ClassMetrics] = []
    curves: list[tuple[FloatArray, FloatArray]] = []
    aps: list[float] = []
    for k in range(c):
        ap, rec, prec = average_precision(y == k, s[:, k])
        curves.append((rec, prec))
        if ap is not None:
            aps.append(ap)
        per_class.append(
            ClassMetrics(
                index=k,
                category_id=ids[k],
                name=names[k],
                support=int(support[k]),
                predicted=int(predicted[k]),
                precision=float(precision[k]),
                recall=float(recall[k]),
                f1=float(f1[k]),
                average_precision=ap,
            )
        )
    present = support > 0
    finite = s[np.isfinite(s)]
    probabilities = bool(np.all((finite >= 0) & (finite <= 1)))
    ece: float | None = None
    bins: tuple[CalibrationBin, ...] = ()
    if probabilities and n:
        conf = np.where(scored, np.max(np.where(np.isfinite(s), s, 0.0), axis=1), 0.0)
        ece, bins = reliability_diagram(conf, pred == y, n_bins)
    return ClassificationMetrics(
        accuracy_top1=acc1,
        accuracy_top5=acc5,
        top_k=top_k,
        per_class=tuple(per_class),
        confusion_matrix=cm,
        macro_precision=float(np.mean(precision[present])) if present.any() else 0.0,
        macro_recall=float(np.mean(recall[present])) if present.any() else 0.0,
        macro_f1=float(np.mean(f1[present])) if present.any() else 0.0,
        mean_average_precision=float(np.mean(aps)) if aps else None,
        calibration_ece=ece,
        calibration_bins=bins,
        pr_curves=tuple(curves),
        num_images=n,
        num_missing_predictions=int(np.count_nonzero(~scored)),
    )
