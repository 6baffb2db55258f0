"""Which unlabelled images to label next: uncertainty sampling from a classifier's probabilities.

Beyond Azure: after a first few-shot model, labelling the images it is least sure about improves it faster than
labelling at random. Three classic scores, all "higher = more uncertain", all in [0, 1]:

* ``margin``: ``1 - (p1 - p2)``, the gap between the two most likely classes (small gap = confused between two);
* ``entropy``: ``-sum p log p / log C``, spread over all classes;
* ``least_confidence``: ``1 - p1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError

UncertaintyMethod = Literal["margin", "entropy", "least_confidence"]
METHODS: tuple[UncertaintyMethod, ...] = ("margin", "entropy", "least_confidence")


@dataclass(frozen=True, slots=True)
class LabelingCandidate:
    """An image to label: its position in the input, its id, and how uncertain the model is about it."""

    index: int
    image_id: int | str
    uncertainty: float


def uncertainty(
    probabilities: npt.ArrayLike, method: UncertaintyMethod = "margin"
) -> npt.NDArray[np.float64]:
    """Uncertainty per row of an (N, C) probability matrix, in [0, 1], higher = less sure.

    Rows must be finite, in [0, 1] and not all zero; for ``entropy`` each row is renormalised to sum to 1
    (so sigmoid outputs work too).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise InvalidArgumentError(f"probabilities must have shape (N, C) with C >= 2 classes, got {p.shape}")
    if p.size and (not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1):
        raise InvalidArgumentError("probabilities must be finite numbers in [0, 1]")
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {list(METHODS)}, got {method!r}")
    if p.shape[0] == 0:
        return np.zeros(0)
    if method == "entropy":
        total = p.sum(axis=1, keepdims=True)
        if np.any(total <= 0):
            raise InvalidArgumentError("every row needs a positive probability for entropy")
        q = p / total
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(q > 0, q * np.log(q), 0.0)
        return np.clip(-terms.sum(axis=1) / np.log(p.shape[1]), 0.0, 1.0)
    top2 = -np.sort(-p, axis=1)[:, :2]
    if method == "margin":
        return np.clip(1.0 - (top2[:, 0] - top2[:, 1]), 0.0, 1.0)
    return 1.0 - top2[:, 0]


def rank_for_labeling(
    probabilities: npt.ArrayLike,
    *,
    method: UncertaintyMethod = "margin",
    image_ids: Sequence[int | str] | None = None,
    top: int | None = None,
) -> tuple[LabelingCandidate, ...]:
    """Images ordered most uncertain first (ties keep input order), optionally only the ``top`` first."""
    scores = uncertainty(probabilities, method)
    ids: Sequence[int | str] = range(len(scores)) if image_ids is None else image_ids
    if len(ids) != len(scores):
        raise InvalidArgumentError(f"got {len(ids)} image ids for {len(scores)} rows of probabilities")
    if top is not None and top < 0:
        raise InvalidArgumentError(f"top must be >= 0, got {top}")
    order = np.argsort(-scores, kind="stable")[:top]
    return tuple(LabelingCandidate(int(i), ids[int(i)], float(scores[i])) for i in order)
