"""Splitting a decoded line into words.

Words end at the spaces the recogniser emits, and also at *gaps it did not emit a space for*. A CTC recogniser
reads a wide gap as a run of blank frames and often writes no space (``TEL:03-55423228    FAX:03-55423213`` or
``DATE:18/06/2018`` come out as one token), especially when the detector merged two columns into one box.

CTC frames are too coarse to measure gaps (8 px at a 48 px line height: about half a character), so we look at the
pixels: which columns of the recogniser's input hold ink (:func:`ink_columns`), and how long the ink-free run
between two neighbouring characters is (:func:`blank_run`). A break needs a run of a fixed fraction of the line
height (the model's own spaces are mostly wider than 0.3 line heights; gaps inside words mostly narrower) that is
also much wider than the line's usual gap between letters. Both are measured in line heights, so they hold for any
font size or resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from imagelens.models.adapters.ppocr.ctc import CtcChar


@dataclass(frozen=True, slots=True)
class WordChars:
    """The characters of one word, in reading order."""

    chars: tuple[CtcChar, ...]

    def __post_init__(self) -> None:
        if not self.chars:
            raise ValueError("a word needs at least one character, got none")

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.chars)

    @property
    def confidence(self) -> float:
        """Mean character probability (the line score PP-OCR reports, restricted to this word)."""
        return float(np.mean([c.prob for c in self.chars]))

    @property
    def start(self) -> int:
        return self.chars[0].start

    @property
    def end(self) -> int:
        return self.chars[-1].end


def split_on_spaces(chars: Sequence[CtcChar]) -> list[list[CtcChar]]:
    """Runs of non-whitespace characters."""
    words: list[list[CtcChar]] = []
    current: list[CtcChar] = []
    for ch in chars:
        if ch.text.isspace():
            if current:
                words.append(current)
                current = []
            continue
        current.append(ch)
    if current:
        words.append(current)
    return words


def character_pitch(words: Sequence[Sequence[CtcChar]], *, min_pairs: int = 3) -> float | None:
    """Median centre-to-centre distance of neighbouring characters inside words; ``None`` with too little evidence."""
    steps = [b.centre - a.centre for w in words for a, b in zip(w, w[1:], strict=False)]
    if len(steps) < min_pairs:
        return None
    return float(np.median(steps))


Breaks = Callable[[CtcChar, CtcChar], bool]  # (left char, right char) -> is there a word break between them?


def split_words(chars: Sequence[CtcChar], *, breaks: Breaks | None = None) -> list[WordChars]:
    """Words of a line: split on emitted spaces, then between neighbours for which ``breaks`` says so."""
    out: list[WordChars] = []
    for word in split_on_spaces(chars):
        current = [word[0]]
        for prev, ch in zip(word, word[1:], strict=False):
            if breaks is not None and breaks(prev, ch):
                out.append(WordChars(tuple(current)))
                current = []
            current.append(ch)
        out.append(WordChars(tuple(current)))
    return out


def ink_breaks(
    chars: Sequence[CtcChar],
    ink: npt.NDArray[np.bool_],
    px_per_frame: float,
    *,
    min_gap_px: float,
    relative: float = 3.0,
) -> Breaks:
    """Break between two neighbouring characters when the line image has an ink-free run between their centres at
    least ``min_gap_px`` wide (frame ``f`` covers pixels ``[f, f + 1) * px_per_frame``) and ``relative`` times the
    line's median gap between neighbours (that keeps letter-spaced headings like ``T O T A L`` whole) -- unless
    they are a decimal separator and a digit: in monospaced print the narrow ``.`` of ``7.80`` leaves a wide blank,
    but a number is never two words.
    """

    def run(a: CtcChar, b: CtcChar) -> int:
        return blank_run(ink, (a.centre + 0.5) * px_per_frame, (b.centre + 0.5) * px_per_frame)

    runs = [run(a, b) for w in split_on_spaces(chars) for a, b in zip(w, w[1:], strict=False)]
    limit = min_gap_px
    if len(runs) >= 4:
        limit = max(limit, relative * float(np.median(runs)))

    def is_break(a: CtcChar, b: CtcChar) -> bool:
        if (a.text in ".," and b.text.isdigit()) or (a.text.isdigit() and b.text in ".,"):
            return False
        return run(a, b) >= limit

    return is_break


def otsu_threshold(gray: npt.NDArray[np.uint8]) -> int:
    """Otsu's grey level separating ink from paper (numpy only)."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 128
    levels = np.arange(256, dtype=np.float64)
    weight0 = np.cumsum(hist)
    weight1 = total - weight0
    mean0 = np.cumsum(hist * levels)
    mean_all = mean0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean_all * weight0 - mean0 * total) ** 2 / (weight0 * weight1)
    between[~np.isfinite(between)] = -1.0
    return int(np.argmax(between))


def ink_columns(
    gray: npt.NDArray[np.uint8], *, band: float = 0.7, min_contrast: int = 32
) -> npt.NDArray[np.bool_]:
    """Which pixel columns of a line image hold ink, looking at its central ``band`` of rows.

    Ink is the minority side of Otsu's threshold (dark text on light paper, or light on dark). The band skips the
    top and bottom rows, where the detector's margin can catch the neighbouring lines. A flat image (contrast below
    ``min_contrast``) has no ink.
    """
    if gray.ndim != 2:
        raise ValueError(f"ink_columns needs a 2-D grey image, got shape {gray.shape}")
    h = gray.shape[0]
    margin = int(round(h * (1.0 - band) / 2))
    core = gray[margin : h - margin] if h - 2 * margin > 0 else gray
    if core.size == 0 or int(core.max()) - int(core.min()) < min_contrast:
        return np.zeros(gray.shape[1], dtype=bool)
    dark = core <= otsu_threshold(core)
    ink = dark if dark.mean() <= 0.5 else ~dark
    return np.asarray(ink.any(axis=0))


def blank_run(ink: npt.NDArray[np.bool_], x0: float, x1: float) -> int:
    """Length of the longest run of ink-free columns in ``[x0, x1)``."""
    lo, hi = max(0, int(np.floor(x0))), min(len(ink), int(np.ceil(x1)))
    if hi <= lo:
        return 0
    empty = ~ink[lo:hi]
    if not empty.any():
        return 0
    padded = np.concatenate(([False], empty, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def word_spans(
    frames: Sequence[tuple[int, int]],
    ink: npt.NDArray[np.bool_],
    px_per_frame: float,
    *,
    pitch: float,
    max_gap_px: float,
) -> list[tuple[float, float]]:
    """Pixel extent ``(x0, x1)`` of each word of a line, from its first and last character frames.

    CTC spikes sit somewhere inside their glyphs, not at their edges, so a box from the spikes alone cuts the first
    and last letters. Each word grows from its spikes over the line's ink until a blank of ``max_gap_px`` columns,
    never past the midpoint to the neighbouring word. Without ink (a flat crop) it spans half a ``pitch`` (in frames)
    around its spikes.
    """
    n = len(ink)
    centres = [((s + 0.5) * px_per_frame, (e + 0.5) * px_per_frame) for s, e in frames]
    out: list[tuple[float, float]] = []
    for k, (first, last) in enumerate(centres):
        lo = 0.0 if k == 0 else (centres[k - 1][1] + first) / 2
        hi = float(n) if k == len(centres) - 1 else (last + centres[k + 1][0]) / 2
        half = pitch * px_per_frame / 2
        x0, x1 = max(lo, first - half), min(hi, last + half)
        left = _grow(ink, int(first), -1, int(np.ceil(lo)), max_gap_px)
        right = _grow(ink, int(last), +1, int(hi) - 1, max_gap_px)
        if left is not None:
            x0 = float(left)
        if right is not None:
            x1 = float(right + 1)
        out.append((x0, max(x1, x0 + 1.0)))
    return out


def _grow(ink: npt.NDArray[np.bool_], start: int, step: int, stop: int, max_gap: float) -> int | None:
    """The farthest ink column from ``start`` towards ``stop`` (inclusive) reachable without ``max_gap`` blanks."""
    best: int | None = None
    blank = 0
    x = min(max(start, 0), len(ink) - 1)
    while (x - stop) * step <= 0 and 0 <= x < len(ink):
        if ink[x]:
            best, blank = x, 0
        else:
            blank += 1
            if blank >= max_gap:
                break
        x += step
    return best
