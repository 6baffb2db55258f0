"""Accuracy of the prebuilt features on labelled data (``imagelens eval faces|objects|people|tags|segment|read``).

Each evaluation returns a :class:`~imagelens.evaluation.report.EvalReport`: the feature, the model, the data folder,
the number of items, the metrics (named as the README's "Accuracy" section names them: ``mAP``, ``AP50``,
``recall``, ``precision``, ``mIoU``, ...) and a threshold recommendation for a target precision, read off the
precision-recall curve (:mod:`.thresholds`), which can also be drawn as a PNG.

Modules: :mod:`.coco` (COCO folders), :mod:`.thresholds` (PR curve, threshold, plot), :mod:`.detection` (objects,
people), :mod:`.faces` (faces against COCO face keypoints), :mod:`.fewshot` (custom classifier on a few shots),
:mod:`.features` (tags, segment, read), :mod:`.report` (the JSON shape and the table).
"""

from __future__ import annotations

from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.thresholds import PRCurve, ThresholdChoice, pr_curve, threshold_for_precision

__all__ = ["EvalReport", "PRCurve", "ThresholdChoice", "pr_curve", "threshold_for_precision"]
