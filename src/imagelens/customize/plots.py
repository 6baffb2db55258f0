"""PNG plots of evaluation results: precision-recall curves, confusion matrix, reliability diagram.

Matplotlib is imported inside each function and used through ``Figure`` + the Agg canvas (never pyplot), so no
global backend is switched and plotting is safe from worker threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from imagelens.calibration import CalibrationBin
from imagelens.customize.metrics import COCO_RECALL_THRESHOLDS, ClassificationMetrics, DetectionMetrics
from imagelens.errors import InvalidArgumentError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def plot_detection_pr_curves(metrics: DetectionMetrics, path: str | Path, *, iou: float = 0.5) -> Path:
    """One interpolated precision-recall curve per category with ground truth, at IoU ``iou``."""
    t = metrics.iou_index(iou)
    fig = _figure(6.4, 4.8)
    ax = fig.add_subplot()
    for k, cls in enumerate(metrics.per_class):
        curve = metrics.precision[t, :, k]
        if cls.ap50_95 is None:
            continue
        ap = float(np.mean(curve))
        ax.plot(COCO_RECALL_THRESHOLDS, curve, label=f"{cls.name} (AP {ap:.3f})")
    _decorate_pr(ax, f"Precision-recall at IoU {iou:.2f}")
    return _save(fig, path)


def plot_classification_pr_curves(metrics: ClassificationMetrics, path: str | Path) -> Path:
    """One-vs-rest precision-recall curve per class with positives."""
    fig = _figure(6.4, 4.8)
    ax = fig.add_subplot()
    for cls, (rec, prec) in zip(metrics.per_class, metrics.pr_curves, strict=True):
        if cls.average_precision is None:
            continue
        ax.step(
            np.r_[0.0, rec],
            np.r_[prec[:1], prec],
            where="post",
            label=f"{cls.name} (AP {cls.average_precision:.3f})",
        )
    _decorate_pr(ax, "Precision-recall (one vs rest)")
    return _save(fig, path)


def _decorate_pr(ax: Any, title: str) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", fontsize="small")


def plot_confusion_matrix(
    matrix: npt.ArrayLike, class_names: Sequence[str], path: str | Path, *, normalize: bool = True
) -> Path:
    """Rows true class, columns predicted; ``normalize`` shows each row as fractions (recall on the diagonal)."""
    cm = np.asarray(matrix, dtype=np.float64)
    n = len(class_names)
    if cm.shape != (n, n):
        raise InvalidArgumentError(
            f"confusion matrix must be {n}x{n} (one row per class name), got {cm.shape}"
        )
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    size = max(4.0, 0.5 * n + 2.5)
    fig = _figure(size, size)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(float(cm.max()), 1.0))
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(n), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix" + (" (row-normalised)" if normalize else ""))
    if n <= 30:
        for i in range(n):
            for j in range(n):
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="white" if shown[i, j] > 0.5 * shown.max() else "black",
                )
    return _save(fig, path)


def plot_reliability_diagram(
    bins: Sequence[CalibrationBin], path: str | Path, *, ece: float | None = None
) -> Path:
    """Accuracy against confidence per bin, with the diagonal of perfect calibration."""
    fig = _figure(5.0, 5.0)
    ax = fig.add_subplot()
    filled = [b for b in bins if b.count]
    centres = [(b.lower + b.upper) / 2 for b in filled]
    widths = [b.upper - b.lower for b in filled]
    ax.bar(
        centres,
        [b.accuracy or 0.0 for b in filled],
        width=widths,
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-1 confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability" + (f" (ECE {ece:.3f})" if ece is not None else ""))
    ax.legend(loc="upper left", fontsize="small")
    return _save(fig, path)


def write_detection_plots(metrics: DetectionMetrics, folder: str | Path) -> list[Path]:
    """PR curves at IoU 0.50 and 0.75 into ``folder``."""
    out = Path(folder)
    return [
        plot_detection_pr_curves(metrics, out / "pr_curves_iou50.png", iou=0.5),
        plot_detection_pr_curves(metrics, out / "pr_curves_iou75.png", iou=0.75),
    ]


def write_classification_plots(metrics: ClassificationMetrics, folder: str | Path) -> list[Path]:
    """Confusion matrix, PR curves and (for probabilities) the reliability diagram into ``folder``."""
    out = Path(folder)
    paths = [
        plot_confusion_matrix(metrics.confusion_matrix, metrics.class_names, out / "confusion_matrix.png"),
        plot_classification_pr_curves(metrics, out / "pr_curves.png"),
    ]
    if metrics.calibration_bins:
        paths.append(
            plot_reliability_diagram(
                metrics.calibration_bins, out / "reliability.png", ece=metrics.calibration_ece
            )
        )
    return paths
