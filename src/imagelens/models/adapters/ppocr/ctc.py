"""Greedy CTC decoding that remembers where each character was read.

PP-OCR recognisers end in a CTC head: for each of ``T`` horizontal frames (8 input pixels each) a softmax over
``C`` classes, class 0 being the CTC blank. Greedy decoding takes the best class per frame, merges repeats and drops
blanks. We keep, for every character, the frames it came from: word boxes, word splitting on wide gaps and the
letter/digit fixes all need them, and rapidocr's own decoder throws them away (or keeps only the first frame).

Classes can be *forbidden* (their probability treated as zero): that is how a page found to be in Latin script is
decoded without CJK or accented look-alikes, letting the model's best allowed class win instead of deleting the
character.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BLANK = 0


@dataclass(frozen=True, slots=True)
class CtcChar:
    """One decoded character: its text, its frames ``start..end`` (inclusive) and its probability."""

    text: str
    start: int
    end: int
    prob: float

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2.0


def check_probs(probs: npt.NDArray[np.floating], vocabulary: Sequence[str]) -> None:
    """Raise when ``probs`` is not a (T, C) matrix matching the vocabulary (blank at index 0)."""
    if probs.ndim != 2:
        raise ValueError(f"CTC probabilities must have shape (frames, classes), got {probs.shape}")
    if probs.shape[1] != len(vocabulary):
        raise ValueError(
            f"CTC probabilities have {probs.shape[1]} classes but the vocabulary has {len(vocabulary)} entries"
        )


def greedy_decode(
    probs: npt.NDArray[np.floating],
    vocabulary: Sequence[str],
    forbidden: npt.NDArray[np.intp] | None = None,
) -> tuple[CtcChar, ...]:
    """Best path decoding of one line.

    ``vocabulary[i]`` is the text of class ``i`` (``vocabulary[0]`` is the blank). ``forbidden`` lists classes that may
    not be emitted; the blank can never be forbidden. A character's probability is the highest probability its class
    reached over its frames (the peak of the CTC spike), so forbidding classes never inflates it.
    """
    check_probs(probs, vocabulary)
    if probs.shape[0] == 0:
        return ()
    scores = probs
    if forbidden is not None and len(forbidden):
        scores = probs.copy()
        scores[:, forbidden[forbidden != BLANK]] = -1.0
    best = scores.argmax(axis=1)
    # Runs of the same class: [starts[k], ends[k]] inclusive.
    change = np.flatnonzero(best[1:] != best[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change - 1, [len(best) - 1]))
    out: list[CtcChar] = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        cls = int(best[s])
        if cls == BLANK:
            continue
        prob = float(probs[s : e + 1, cls].max())
        out.append(CtcChar(vocabulary[cls], s, e, min(max(prob, 0.0), 1.0)))
    return tuple(out)


def decode_text(chars: Sequence[CtcChar]) -> str:
    return "".join(c.text for c in chars)
