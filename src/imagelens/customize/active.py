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
from imagelens.types import CustomModelResult

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


def rank_custom_results(
    results: Sequence[CustomModelResult],
    image_ids: Sequence[int | str],
    *,
    method: UncertaintyMethod = "margin",
    top: int | None = None,
) -> list[tuple[int | str, float]]:
    """(image id, uncertainty) of a custom model's answers, most uncertain first (ties keep input order).

    A classifier (any tag): :func:`rank_for_labeling` over its class probabilities. A detector: its most ambiguous
    box, ``1 - |2p - 1|`` (a score of 0.5 is 1, a sure box or no box is 0).
    """
    if len(results) != len(image_ids):
        raise InvalidArgumentError(f"got {len(image_ids)} image ids for {len(results)} results")
    rows = [{t.name: t.confidence for t in r.tags} for r in results]
    names = sorted({name for row in rows for name in row})
    if names:  # a classifier: the probability matrix over its classes
        probs = np.asarray([[row.get(c, 0.0) for c in names] for row in rows], dtype=np.float64)
        if len(names) == 1:  # one class: "not it" is the other column
            probs = np.hstack([probs, 1.0 - probs])
        probs[probs.sum(axis=1) == 0] = 1.0 / len(names)
        chosen = rank_for_labeling(probs, method=method, image_ids=image_ids, top=top)
        return [(c.image_id, c.uncertainty) for c in chosen]
    if top is not None and top < 0:
        raise InvalidArgumentError(f"top must be >= 0, got {top}")
    scores = np.asarray(
        [
            max((1 - abs(2 * t.confidence - 1) for o in r.objects for t in o.tags), default=0.0)
            for r in results
        ],
        dtype=np.float64,
    )
    order = np.argsort(-scores, kind="stable")[:top]
    return [(image_ids[int(i)], float(scores[i])) for i in order]
