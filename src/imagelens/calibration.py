"""Score calibration: from a model's raw logit to a probability that means "this tag is in the image".

SigLIP is trained so that ``sigmoid(scale * cos + bias)`` is the probability that an image and a *caption* belong
together, against the other captions of a 32k batch. That is not the probability that a *tag* from a 4,585-word list
applies to an image: prompts like "a photo of a cup." are shorter than alt-texts, many tags are attributes or scenes,
and the base rate of a tag differs from the base rate of a matching caption. So the tagger passes the model's logit
through a Platt transform (Platt, 1999)::

    p = sigmoid(a * logit + b)        logit = scale * cos(image, text) + bias

with one global ``(a, b)`` and optional per-tag overrides for tags with enough labelled examples. ``a = 1, b = 0``
is the identity: the model's own sigmoid. ``a > 0`` is enforced, so calibration never reorders the tags of an image.

Fitting (:func:`fit_platt`) follows Platt's recipe as made robust by Lin, Lin & Weng (2007): regularised targets
``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)`` instead of 1 and 0 (so a perfectly separable set does not send the slope
to infinity), Newton's method with a backtracking line search on the cross-entropy, all numerically stable.
:func:`fit_tag_calibration` fits the global pair on every (image, tag) pair and per-tag pairs where a tag has at
least ``min_examples`` positives and negatives. The parameters live in a JSON file (:meth:`TagCalibration.save`)
next to the model; ``benchmarks/tags_calibration.md`` says what the shipped defaults are and how to fit your own.

numpy only; no model code here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.errors import ImageLensError, InvalidArgumentError
from imagelens.numeric import sigmoid

FloatArray = npt.NDArray[np.float64]

#: The file the tagger reads, next to the model's weights, when it exists (it overrides ``spec.options``).
CALIBRATION_FILE = "imagelens_tag_calibration.json"
_FORMAT = "imagelens.tag-calibration/1"


def _log1p_exp(z: FloatArray) -> FloatArray:
    """``log(1 + exp(z))``, stable for any ``z``."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


@dataclass(frozen=True, slots=True)
class Platt:
    """``p = sigmoid(a * logit + b)``; ``a > 0`` keeps the order of the scores."""

    a: float = 1.0
    b: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise InvalidArgumentError(f"Platt parameters must be finite, got a={self.a!r}, b={self.b!r}")
        if self.a <= 0:
            raise InvalidArgumentError(
                f"Platt slope a must be > 0 (a calibration may not reverse scores), got {self.a!r}"
            )

    def __call__(self, logits: npt.ArrayLike) -> FloatArray:
        return sigmoid(self.a * np.asarray(logits, dtype=np.float64) + self.b)

    def to_dict(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Platt:
        try:
            return cls(a=float(data.get("a", 1.0)), b=float(data.get("b", 0.0)))
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"Platt parameters must be numbers, got {dict(data)!r}") from exc


IDENTITY = Platt()


def fit_platt(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> Platt:
    """Fit ``p = sigmoid(a * score + b)`` to binary labels (Platt 1999, Lin-Lin-Weng 2007 Newton method).

    ``scores`` are raw decision values (logits); ``labels`` are 0/1 (or booleans), one per score. Both classes
    must be present. Returns the maximum-likelihood parameters for the regularised targets.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise InvalidArgumentError(f"scores and labels must have the same length, got {s.size} and {y.size}")
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise InvalidArgumentError(f"scores must be a non-empty array of finite numbers, got {s.size} values")
    if not np.all((y == 0) | (y == 1)):
        raise InvalidArgumentError("labels must be 0 or 1")
    pos = y.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise InvalidArgumentError(
            f"fitting a calibration needs positive and negative examples, got {n_pos} positive and {n_neg} negative"
        )
    t = np.where(pos, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(a: float, b: float) -> float:
        z = a * s + b
        # cross-entropy with soft targets: -[t log p + (1 - t) log(1 - p)] = log(1 + e^z) - t z
        return float(np.sum(_log1p_exp(z) - t * z))

    a, b = 0.0, math.log((n_pos + 1.0) / (n_neg + 1.0))  # Platt's start: slope 0, the prior log-odds
    current = loss(a, b)
    sigma = 1e-12  # Lin et al.: keeps the Hessian positive definite when the scores are constant
    for _ in range(max_iter):
        p = sigmoid(a * s + b)
        d1 = p - t  # dL/dz
        d2 = p * (1.0 - p)  # d2L/dz2
        g = np.array([np.dot(d1, s), d1.sum()])
        h11 = float(np.dot(d2 * s, s)) + sigma
        h22 = float(d2.sum()) + sigma
        h12 = float(np.dot(d2, s))
        if abs(g[0]) < tol * max(1.0, s.size) and abs(g[1]) < tol * max(1.0, s.size):
            break
        det = h11 * h22 - h12 * h12
        step_a = -(h22 * g[0] - h12 * g[1]) / det
        step_b = -(-h12 * g[0] + h11 * g[1]) / det
        slope = g[0] * step_a + g[1] * step_b
        step = 1.0
        while step >= 1e-10:
            na, nb = a + step * step_a, b + step * step_b
            new = loss(na, nb)
            if new < current + 1e-4 * step * slope:
                a, b, current = na, nb, new
                break
            step /= 2.0
        else:
            break  # no decrease possible along the Newton direction: converged as far as floats allow
    if a <= 0:
        # Scores that do not separate (or anti-correlate with) the labels: the best order-keeping map is (almost)
        # the base rate. A tiny positive slope keeps Platt's order guarantee.
        a = 1e-6
        base = float(t.mean())
        b = math.log(base / (1.0 - base)) - a * float(s.mean())
    return Platt(a=float(a), b=float(b))


@dataclass(frozen=True, slots=True)
class TagCalibration:
    """The tagger's score transform and threshold.

    ``default`` applies to every tag without a ``per_tag`` entry. ``threshold`` is on the calibrated probability.
    ``source`` says what the parameters were fitted on ("defaults" when they were not fitted at all).
    """

    default: Platt = IDENTITY
    per_tag: Mapping[str, Platt] = field(default_factory=dict)
    threshold: float = 0.5
    source: str = "defaults"

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidArgumentError(f"the tag threshold must be in [0, 1], got {self.threshold!r}")
        object.__setattr__(self, "per_tag", MappingProxyType(dict(self.per_tag)))

    def parameters(self, tags: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        """Per-tag ``(a, b)`` vectors for ``tags`` (compute once per vocabulary, then :meth:`apply_vectors`)."""
        a = np.full(len(tags), self.default.a)
        b = np.full(len(tags), self.default.b)
        if self.per_tag:
            for i, tag in enumerate(tags):
                p = self.per_tag.get(tag)
                if p is not None:
                    a[i], b[i] = p.a, p.b
        return a, b

    @staticmethod
    def apply_vectors(logits: npt.ArrayLike, a: FloatArray, b: FloatArray) -> FloatArray:
        """Calibrated probabilities for logits whose last axis matches ``a`` and ``b``."""
        return sigmoid(np.asarray(logits, dtype=np.float64) * a + b)

    def apply(self, logits: npt.ArrayLike, tags: Sequence[str]) -> FloatArray:
        """Calibrated probabilities; the last axis of ``logits`` runs over ``tags``."""
        arr = np.asarray(logits, dtype=np.float64)
        if arr.shape[-1:] != (len(tags),):
            raise InvalidArgumentError(f"logits' last axis must have {len(tags)} tags, got shape {arr.shape}")
        a, b = self.parameters(tags)
        return self.apply_vectors(arr, a, b)

    # --- persistence -------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "source": self.source,
            "threshold": self.threshold,
            "default": self.default.to_dict(),
            "per_tag": {tag: p.to_dict() for tag, p in sorted(self.per_tag.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TagCalibration:
        fmt = data.get("format", _FORMAT)
        if fmt != _FORMAT:
            raise InvalidArgumentError(f"unknown tag calibration format {fmt!r}, expected {_FORMAT!r}")
        per_tag = data.get("per_tag") or {}
        if not isinstance(per_tag, Mapping):
            raise InvalidArgumentError(f"'per_tag' must map tags to {{a, b}}, got {type(per_tag).__name__}")
        return cls(
            default=Platt.from_dict(data.get("default") or {}),
            per_tag={str(k): Platt.from_dict(v) for k, v in per_tag.items()},
            threshold=float(data.get("threshold", 0.5)),
            source=str(data.get("source", "defaults")),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> TagCalibration:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ImageLensError(f"cannot read the tag calibration file {path}: {exc}") from exc
        if not isinstance(data, Mapping):
            raise ImageLensError(f"the tag calibration file {path} must hold a JSON object")
        return cls.from_dict(data)


def fit_tag_calibration(
    logits: npt.ArrayLike,
    labels: npt.ArrayLike,
    tags: Sequence[str],
    *,
    min_examples: int = 20,
    threshold: float = 0.5,
    source: str = "",
) -> TagCalibration:
    """A global Platt fit on all (image, tag) pairs, plus per-tag fits for well-supported tags.

    ``logits`` and ``labels`` are ``(images, tags)``. A tag gets its own ``(a, b)`` only when it has at least
    ``min_examples`` positive *and* negative images; the others share the global fit.
    """
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or x.shape != y.shape or x.shape[1] != len(tags):
        raise InvalidArgumentError(
            f"logits and labels must both be (images, {len(tags)} tags), got {x.shape} and {y.shape}"
        )
    if min_examples < 1:
        raise InvalidArgumentError(f"min_examples must be >= 1, got {min_examples}")
    default = fit_platt(x, y)
    per_tag: dict[str, Platt] = {}
    positives = (y == 1).sum(axis=0)
    negatives = x.shape[0] - positives
    for j in np.flatnonzero((positives >= min_examples) & (negatives >= min_examples)):
        per_tag[tags[int(j)]] = fit_platt(x[:, j], y[:, j])
    return TagCalibration(default=default, per_tag=per_tag, threshold=threshold, source=source or "fitted")


# --- how good is a calibration -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One bin ``(lower, upper]`` of a reliability diagram (the first bin also holds probability 0).

    ``accuracy`` is the mean label (the fraction correct) and ``confidence`` the mean probability of the bin's
    examples; both are ``None`` for an empty bin.
    """

    lower: float
    upper: float
    count: int
    accuracy: float | None
    confidence: float | None


def reliability_diagram(
    probs: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 10
) -> tuple[float, tuple[CalibrationBin, ...]]:
    """Expected calibration error and the bins it is computed from.

    ECE is ``sum_b (n_b / N) |mean(label)_b - mean(prob)_b|`` over ``n_bins`` equal-width bins ``(lower, upper]``
    as in Guo et al. (2017); probability 0 goes to the first bin instead of nowhere. ``labels`` are 0/1 (or
    booleans): whether the tag applies, or whether a classifier's top-1 answer was right for its top-1 confidence.
    """
    p = np.asarray(probs, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if p.shape != y.shape or p.size == 0:
        raise InvalidArgumentError(
            f"probs and labels must be non-empty and the same length, got {p.size} and {y.size}"
        )
    if n_bins < 1:
        raise InvalidArgumentError(f"n_bins must be >= 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], p, side="left")
    ece = 0.0
    bins: list[CalibrationBin] = []
    for b in range(n_bins):
        mask = which == b
        count = int(np.count_nonzero(mask))
        if count:
            acc = float(np.mean(y[mask]))
            conf = float(np.mean(p[mask]))
            ece += count / p.size * abs(acc - conf)
            bins.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), count, acc, conf))
        else:
            bins.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), 0, None, None))
    return float(ece), tuple(bins)


def expected_calibration_error(probs: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 10) -> float:
    """ECE: the size-weighted mean of ``|mean(prob) - mean(label)|`` over equal-width probability bins
    (see :func:`reliability_diagram` for the bins)."""
    return reliability_diagram(probs, labels, n_bins)[0]


def brier_score(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Mean squared difference between probability and 0/1 label (lower is better; 0.25 for always 0.5)."""
    p = np.asarray(probs, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if p.shape != y.shape or p.size == 0:
        raise InvalidArgumentError(
            f"probs and labels must be non-empty and the same length, got {p.size} and {y.size}"
        )
    return float(np.mean((p - y) ** 2))


# --- labels for fitting ----------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def _plurals(words: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The phrase and its plural forms (last word + s / es / y -> ies): captions say "two dogs", tags say "dog"."""
    *head, last = words
    forms = {words, (*head, last + "s"), (*head, last + "es")}
    if last.endswith("y") and len(last) > 1:
        forms.add((*head, last[:-1] + "ies"))
    return forms


def caption_labels(texts_per_image: Sequence[Iterable[str]], tags: Sequence[str]) -> npt.NDArray[np.bool_]:
    """``(images, tags)`` weak labels: a tag is present when its words (or their plural) occur in any of the image's
    texts (captions, category names), as whole words.

    Captions name the salient things only, so these labels miss true tags (low recall) and a calibration fitted on
    them under-states probabilities; they are what COCO offers for 4,585 tags without manual labelling.
    """
    index: dict[tuple[str, ...], list[int]] = {}
    for j, tag in enumerate(tags):
        words = _words(tag)
        if words:
            for form in _plurals(words):
                index.setdefault(form, []).append(j)
    longest = max((len(form) for form in index), default=1)
    out = np.zeros((len(texts_per_image), len(tags)), dtype=bool)
    for i, texts in enumerate(texts_per_image):
        for text in texts:
            words = _words(text)
            for n in range(1, longest + 1):
                for k in range(len(words) - n + 1):
                    for j in index.get(words[k : k + n], ()):
                        out[i, j] = True
    return out
