"""Florence-2 decoding, pure functions: token pieces to phrases and ``<loc_*>`` boxes, and per-token confidences.

See the package docstring for how confidences and boxes are derived.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: Florence-2's task tokens (the processor expands them to its natural-language prompts).
CAPTION_TASK = "<CAPTION>"
DETAILED_CAPTION_TASK = "<DETAILED_CAPTION>"
DENSE_TASK = "<DENSE_REGION_CAPTION>"
TASKS = (CAPTION_TASK, DETAILED_CAPTION_TASK, DENSE_TASK)

#: Location tokens: ``<loc_0>`` .. ``<loc_999>``, bins over each axis of the processed square.
LOC_BINS = 1000
_LOC_RE = re.compile(r"<loc_(\d+)>")

#: A parsed token: text (str), a location bin (int), or ``None`` for a token that carries neither (specials).
Piece = str | int | None
FloatArray = npt.NDArray[np.float64]


# --- results between stages ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Generated:
    """One decoded task: the generated token ids (decoder start excluded) and each token's log-score."""

    token_ids: tuple[int, ...]
    log_scores: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.token_ids) != len(self.log_scores):
            raise ValueError(
                f"token_ids and log_scores must have the same length, got {len(self.token_ids)} "
                f"and {len(self.log_scores)}"
            )


@dataclass(frozen=True, slots=True)
class ParsedRegion:
    """One phrase with one box, as bins; ``pieces`` are the indices of its phrase and location tokens."""

    text: str
    bins: tuple[int, int, int, int]  # x1, y1, x2, y2 in [0, 999], x1 <= x2 and y1 <= y2
    pieces: tuple[int, ...]


# --- pure post-processing (tested on hand-written strings) -----------------------------------------------------------


def clean_phrase(text: str) -> str:
    """Whitespace collapsed and trimmed; U+FFFD (an undecodable byte run) and control characters dropped."""
    kept = "".join(ch for ch in text if ch != "\ufffd" and (ch.isprintable() or ch.isspace()))
    return " ".join(kept.split())


def split_florence_text(text: str) -> list[Piece]:
    """A decoded Florence-2 string as pieces: ``<loc_N>`` -> ``N``, ``<s>``/``</s>``/``<pad>`` -> ``None``, text."""
    pieces: list[Piece] = []
    for part in re.split(r"(<loc_\d+>|</s>|<s>|<pad>)", text):
        if not part:
            continue
        match = _LOC_RE.fullmatch(part)
        if match is not None:
            pieces.append(int(match.group(1)))
        elif part in ("<s>", "</s>", "<pad>"):
            pieces.append(None)
        else:
            pieces.append(part)
    return pieces


def parse_regions(pieces: Sequence[Piece], join: Callable[[list[str]], str] = "".join) -> list[ParsedRegion]:
    """Phrases followed by groups of four location bins, in the order generated (Florence-2's ``<OD>`` grammar).

    ``a red car<loc_1><loc_2><loc_3><loc_4>`` is one region; a phrase followed by 8 bins is two regions with the
    same phrase (how Florence-2 lists several instances). Malformed parts are dropped: a trailing phrase without
    bins, a group of fewer than 4 bins, bins without a phrase. Bins above 999 are clamped to 999 (what Florence's
    quantiser produces), and each box's corners are ordered so that x1 <= x2 and y1 <= y2.
    """
    regions: list[ParsedRegion] = []
    phrase: list[str] = []
    phrase_idx: list[int] = []
    run: list[tuple[int, int]] = []  # (piece index, bin) of the current run of location tokens

    def close_run() -> None:
        text = clean_phrase(join(list(phrase))) if phrase else ""
        if text:
            for k in range(len(run) // 4):
                group = run[4 * k : 4 * k + 4]
                x1, y1, x2, y2 = (min(b, LOC_BINS - 1) for _, b in group)
                bins = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
                regions.append(ParsedRegion(text, bins, (*phrase_idx, *(i for i, _ in group))))
        phrase.clear()
        phrase_idx.clear()
        run.clear()

    for index, piece in enumerate(pieces):
        if piece is None:
            continue
        if isinstance(piece, int):
            run.append((index, piece))
            continue
        if run:
            close_run()
        phrase.append(piece)
        phrase_idx.append(index)
    if run:
        close_run()
    return regions


def parse_dense_text(text: str) -> list[ParsedRegion]:
    """:func:`parse_regions` on a decoded string such as ``"a dog<loc_1><loc_2><loc_3><loc_4>"``."""
    return parse_regions(split_florence_text(text))


def bins_to_box(
    bins: tuple[int, int, int, int], width: int, height: int
) -> tuple[float, float, float, float]:
    """Bin centres mapped to original pixels on each axis on its own (the model's square is a non-uniform resize).

    Returns ``(x1, y1, x2, y2)`` clipped to the image.
    """
    x1, y1, x2, y2 = ((b + 0.5) / LOC_BINS for b in bins)
    return (
        min(max(x1 * width, 0.0), float(width)),
        min(max(y1 * height, 0.0), float(height)),
        min(max(x2 * width, 0.0), float(width)),
        min(max(y2 * height, 0.0), float(height)),
    )


def azure_style(text: str) -> str:
    """Azure's caption style: no final full stop, first letter lower-case unless the first word is an acronym."""
    text = text.strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    first = text.split(" ", 1)[0]
    if first == "A" or (len(first) > 1 and first[0].isupper() and first[1:] == first[1:].lower()):
        text = text[0].lower() + text[1:]
    return text


def geometric_mean(log_scores: Iterable[float]) -> float:
    """``exp(mean(log_scores))`` in [0, 1]; 0.0 for no scores."""
    values = list(log_scores)
    if not values:
        return 0.0
    return float(min(1.0, max(0.0, math.exp(sum(values) / len(values)))))


def token_log_scores(
    logits: npt.NDArray[np.floating[Any]],
    token_ids: Sequence[int],
    loc_ids: npt.NDArray[np.int64],
    window: int,
) -> FloatArray:
    """Per generated token, the log of its score (see the module docstring) from raw logits ``(steps, vocab)``.

    A token whose id is in ``loc_ids`` (bin ``i`` at ``loc_ids[i]``) scores the probability of bins within
    ``window`` of its own; every other token scores its own probability.
    """
    if logits.ndim != 2 or logits.shape[0] != len(token_ids):
        raise ValueError(f"logits must be (steps={len(token_ids)}, vocab), got {logits.shape}")
    x = np.asarray(logits, dtype=np.float32)  # the full-vocabulary pass stays in float32 (speed) ...
    peak = x.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(x - peak).sum(axis=1, dtype=np.float64)) + peak[:, 0]  # ... summed in float64
    ids = np.asarray(token_ids, dtype=np.int64)
    out = x[np.arange(len(ids)), ids].astype(np.float64) - log_norm
    bin_of = {int(token): b for b, token in enumerate(loc_ids)}
    loc_steps = [i for i, t in enumerate(ids) if int(t) in bin_of]
    if loc_steps:
        loc_logits = x[loc_steps][:, loc_ids].astype(np.float64)
        probs = np.exp(loc_logits - log_norm[loc_steps, None])  # (n, 1000)
        cum = np.concatenate([np.zeros((len(loc_steps), 1)), np.cumsum(probs, axis=1)], axis=1)
        for row, step in enumerate(loc_steps):
            b = bin_of[int(ids[step])]
            lo, hi = max(0, b - window), min(LOC_BINS, b + window + 1)
            mass = cum[row, hi] - cum[row, lo]
            out[step] = math.log(max(mass, 1e-300))
    return out
