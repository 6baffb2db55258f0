"""The cheap shot-boundary detector and how to score one against known cuts.

Every decoded frame is scaled (by FFmpeg's swscale) to a 64x36 RGB thumbnail. A cut between two consecutive frames
needs BOTH a large colour-histogram distance (half the L1 distance of 3x16-bin per-channel histograms, in [0, 1])
and a large mean absolute pixel difference (in [0, 1]): the histogram alone misses a cut between two pictures of
similar colours less often than it fires on motion, the pixel difference alone fires on every pan; together they
stay quiet on motion and compression noise. Cuts closer than ``min_shot_s`` to the previous one are dropped
(flashes, flicker). Fades and dissolves are not hard cuts; the time-based samples cover them.

Standard library and numpy only.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

THUMB_W, THUMB_H = 64, 36
BINS = 16
Thumb = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Signature:
    hist: npt.NDArray[np.float32]
    gray: npt.NDArray[np.float32]


def signature(thumb: Thumb) -> Signature:
    """The histogram (3 x ``BINS``, normalised per channel) and grey levels (0-1) of a small RGB frame."""
    pixels = thumb.reshape(-1, 3)
    n = max(pixels.shape[0], 1)
    hist = np.concatenate(
        [np.bincount(pixels[:, c] >> 4, minlength=BINS).astype(np.float32) / n for c in range(3)]
    )
    gray = thumb.astype(np.float32).mean(axis=2) / 255.0
    return Signature(hist, gray)


def distances(a: Signature, b: Signature) -> tuple[float, float]:
    """(histogram distance, mean pixel difference), both in [0, 1]."""
    hist = float(np.abs(a.hist - b.hist).sum()) / 6.0
    pix = float(np.abs(a.gray - b.gray).mean()) if a.gray.shape == b.gray.shape else 1.0
    return hist, pix


class ShotDetector:
    """Feed frames in time order; :meth:`update` answers whether a new shot starts at this frame."""

    def __init__(self, hist_threshold: float = 0.15, pixel_threshold: float = 0.06, min_shot_s: float = 0.4):
        self.hist_threshold = hist_threshold
        self.pixel_threshold = pixel_threshold
        self.min_shot_s = min_shot_s
        self._previous: Signature | None = None
        self._last_cut = -1e18

    def state(self) -> dict[str, Any]:
        """JSON-able state (a checkpoint): the last frame's signature and the last cut's time."""
        prev = self._previous
        return {
            "last_cut": self._last_cut,
            "hist": None
            if prev is None
            else base64.b64encode(prev.hist.astype(np.float32).tobytes()).decode(),
            "gray": None
            if prev is None
            else base64.b64encode(prev.gray.astype(np.float32).tobytes()).decode(),
            "shape": None if prev is None else list(prev.gray.shape),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._last_cut = float(state["last_cut"])
        if state.get("hist") is None:
            self._previous = None
            return
        hist = np.frombuffer(base64.b64decode(state["hist"]), dtype=np.float32).copy()
        gray = np.frombuffer(base64.b64decode(state["gray"]), dtype=np.float32).reshape(state["shape"]).copy()
        self._previous = Signature(hist, gray)

    def update(self, time_s: float, thumb: Thumb) -> bool:
        sig = signature(thumb)
        previous, self._previous = self._previous, sig
        if previous is None:
            return False
        hist, pix = distances(previous, sig)
        if (
            hist >= self.hist_threshold
            and pix >= self.pixel_threshold
            and time_s - self._last_cut >= self.min_shot_s
        ):
            self._last_cut = time_s
            return True
        return False


@dataclass(frozen=True, slots=True)
class BoundaryScore:
    """How well predicted shot starts match the true cuts: each true cut is matched to the nearest unused
    prediction within ``tolerance_s``; ``mean_error_s`` / ``max_error_s`` over the matched ones."""

    true_cuts: int
    predicted: int
    matched: int
    recall: float
    precision: float
    mean_error_s: float
    max_error_s: float


def score_boundaries(
    predicted: Sequence[float], truth: Sequence[float], tolerance_s: float = 1.0
) -> BoundaryScore:
    used: set[int] = set()
    errors: list[float] = []
    for cut in truth:
        best, best_err = -1, tolerance_s
        for i, p in enumerate(predicted):
            err = abs(p - cut)
            if i not in used and err <= best_err:
                best, best_err = i, err
        if best >= 0:
            used.add(best)
            errors.append(best_err)
    matched = len(errors)
    return BoundaryScore(
        true_cuts=len(truth),
        predicted=len(predicted),
        matched=matched,
        recall=matched / len(truth) if truth else 1.0,
        precision=matched / len(predicted) if predicted else 1.0,
        mean_error_s=float(np.mean(errors)) if errors else 0.0,
        max_error_s=float(np.max(errors)) if errors else 0.0,
    )
