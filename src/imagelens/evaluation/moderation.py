"""``imagelens eval adult``: precision and recall of the adult, racy and gory flags on a labelled folder.

Layout: one sub-folder per label, ``adult/``, ``racy/``, ``gore/`` and ``neutral/`` (an image is positive for the
category of its folder and negative for the others); or a CSV ``path,adult,racy,gore`` (0/1 each, several may be 1;
paths relative to the CSV). For each category: precision and recall at the configured threshold (the feature's own
booleans), AP over the score sweep, and the lowest threshold reaching the target precision.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.image_type import IMAGE_SUFFIXES
from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.thresholds import PRCurve, pr_curve, threshold_for_precision
from imagelens.types import Moderation

CATEGORIES = ("adult", "racy", "gore")
FOLDERS = (*CATEGORIES, "neutral")


@dataclass(frozen=True, slots=True)
class LabelledImage:
    path: Path
    labels: frozenset[str]  # a subset of CATEGORIES; empty: neutral


def load_labelled(data: Path) -> list[LabelledImage]:
    if data.is_file() and data.suffix.lower() == ".csv":
        rows: list[LabelledImage] = []
        with data.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    labels = frozenset(c for c in CATEGORIES if row[c].strip() == "1")
                    rows.append(LabelledImage(data.parent / row["path"], labels))
                except KeyError as exc:
                    raise InvalidArgumentError(
                        f"{data}: the CSV needs columns path, adult, racy, gore"
                    ) from exc
        return rows
    if not data.is_dir():
        raise InvalidArgumentError(f"no labelled folder or CSV at {data}")
    rows = [
        LabelledImage(p, frozenset({label} & set(CATEGORIES)))
        for label in FOLDERS
        for p in sorted((data / label).glob("*"))
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not rows:
        raise InvalidArgumentError(f"{data}: no images under {', '.join(f'{x}/' for x in FOLDERS)}")
    return rows


def evaluate_moderation(
    moderate: Callable[[npt.NDArray[np.uint8]], Moderation],
    rows: Sequence[LabelledImage],
    load: Callable[[str], npt.NDArray[np.uint8]],
    *,
    model_id: str,
    data: str,
    thresholds: dict[str, float],
    target_precision: float = 0.9,
) -> tuple[EvalReport, dict[str, PRCurve]]:
    """Per category: precision/recall at the configured threshold, AP, and the threshold for the target precision
    (the report's ``threshold`` is the adult one; the others are in ``details``)."""
    results = [moderate(load(str(row.path))) for row in rows]
    scores = {
        "adult": [(m.adult_score, m.is_adult) for m in results],
        "racy": [(m.racy_score, m.is_racy) for m in results],
        "gore": [(m.gore_score, m.is_gory) for m in results],
    }
    metrics: dict[str, float | int | None] = {}
    curves: dict[str, PRCurve] = {}
    choices = {}
    for category in CATEGORIES:
        s = np.array([x[0] for x in scores[category]], float)
        flagged = np.array([x[1] for x in scores[category]], bool)
        truth = np.array([category in row.labels for row in rows], bool)
        order = np.argsort(-s, kind="stable")
        curve = pr_curve(s[order], truth[order], int(truth.sum()))
        tp, fp, fn = (
            int((flagged & truth).sum()),
            int((flagged & ~truth).sum()),
            int((~flagged & truth).sum()),
        )
        metrics[f"{category}_threshold"] = thresholds[category]
        metrics[f"{category}_precision"] = tp / (tp + fp) if tp + fp else None
        metrics[f"{category}_recall"] = tp / (tp + fn) if tp + fn else None
        metrics[f"{category}_positives"] = int(truth.sum())
        metrics[f"{category}_ap"] = curve.average_precision()
        curves[category] = curve
        choices[category] = threshold_for_precision(curve, target_precision).to_dict()
    report = EvalReport(
        "adult", model_id, data, len(rows), metrics, choices["adult"], {"thresholds_for_target": choices}
    )
    return report, curves
