"""Letter/digit confusions, fixed from the model's own second choice.

``1``/``l``/``I``, ``0``/``O``, ``5``/``S``, ``8``/``B`` look alike in many receipt and label fonts, so a recogniser
that reads one character at a time writes ``BI11``, ``TE1``, ``CL0SED`` or ``24.0O``. A word is almost never a mix of
letters and digits *by accident*: when nearly all its characters are of one kind, an odd character of the other
kind is suspicious. We do not replace it from a fixed table (that would turn the real ``S`` of ``4.53 S`` into
``5``); we ask the recogniser what else it saw at that character's frames and switch to the best character of the
majority kind only when the model gave it at least ``min_ratio`` of the probability of the character it wrote.
Real alphanumerics (``A4``, ``B2B``, ``10KG``, ``ORD#50``) are left alone by the majority rule or by the model's
confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Literal

from imagelens.models.adapters.ppocr.ctc import CtcChar

Kind = Literal["digit", "letter"]
# (character, kind wanted) -> the model's best character of that kind at the character's frames, with its probability
Alternatives = Callable[[CtcChar, Kind], tuple[str, float] | None]


def kind_of(ch: str) -> Kind | None:
    if ch.isdigit() and ch.isascii():
        return "digit"
    if ch.isalpha():
        return "letter"
    return None


def majority_kind(chars: Sequence[CtcChar], *, min_majority: int = 2, dominance: float = 2.0) -> Kind | None:
    """The kind most characters have, if it has at least ``min_majority`` of them and ``dominance`` times the other."""
    digits = sum(1 for c in chars if kind_of(c.text) == "digit")
    letters = sum(1 for c in chars if kind_of(c.text) == "letter")
    if digits >= min_majority and digits >= dominance * letters and letters > 0:
        return "digit"
    if letters >= min_majority and letters >= dominance * digits and digits > 0:
        return "letter"
    return None


def alnum_runs(chars: Sequence[CtcChar]) -> list[list[int]]:
    """Indices of the letter/digit runs of a word. Punctuation separates runs (``No.1``, ``ID:0003``, ``SR@0%``)
    except a ``.`` or ``,`` between two digits, which belongs to the number (``24.0C`` is one run)."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, ch in enumerate(chars):
        if kind_of(ch.text) is not None:
            current.append(i)
            continue
        decimal = (
            ch.text in ".,"
            and 0 < i < len(chars) - 1
            and kind_of(chars[i - 1].text) == "digit"
            and kind_of(chars[i + 1].text) == "digit"
        )
        if decimal:
            current.append(i)
            continue
        if current:
            runs.append(current)
        current = []
    if current:
        runs.append(current)
    return runs


def fix_confusions(
    chars: Sequence[CtcChar], alternatives: Alternatives, *, min_ratio: float = 0.05
) -> tuple[CtcChar, ...]:
    """``chars`` (one word) with suspicious characters replaced by the model's best reading of the other kind.

    Within each letter/digit run (see :func:`alnum_runs`) a character is suspicious when

    - the run is mostly of the other kind (:func:`majority_kind`) *and* the character follows one of that kind: the
      ``0`` of ``CL0SED``, the ``C`` of ``24.0C``; a leading one is left alone, as in ``5KG`` or ``GA1801``;
    - or it is a digit right after a lower-case letter (``Te1``, ``Bi11``), which real words and codes almost never
      have.

    It is replaced only when the model gave the alternative at least ``min_ratio`` of the probability of what it
    wrote. Runs are scanned left to right, so a fixed character counts as its new kind for the next one. A replacement
    keeps the character's frames; its probability becomes the alternative's, so the word's confidence drops.
    """
    out = list(chars)
    for run in alnum_runs(chars):
        majority = majority_kind([chars[i] for i in run])
        for pos, i in enumerate(run):
            kind = kind_of(out[i].text)
            if kind is None or pos == 0:
                continue
            left = out[run[pos - 1]].text
            wanted: Kind | None = None
            if majority is not None and kind != majority and kind_of(left) == majority:
                wanted = majority
            elif kind == "digit" and left.isalpha() and left.islower():
                wanted = "letter"
            if wanted is None:
                continue
            alt = alternatives(out[i], wanted)
            if alt is not None and alt[1] >= min_ratio * out[i].prob:
                out[i] = replace(out[i], text=alt[0], prob=alt[1])
    return tuple(out)


def table_alternatives(table: dict[str, str]) -> Alternatives:
    """Alternatives from a fixed look-alike table, at the character's own probability (for tests and for models that
    expose no probabilities)."""

    def lookup(ch: CtcChar, kind: Kind) -> tuple[str, float] | None:
        alt = table.get(ch.text)
        if alt is None or kind_of(alt) != kind:
            return None
        return alt, ch.prob

    return lookup


LOOKALIKES: dict[str, str] = {
    "0": "O",
    "1": "l",
    "5": "S",
    "8": "B",
    "O": "0",
    "o": "0",
    "D": "0",
    "Q": "0",
    "l": "1",
    "I": "1",
    "i": "1",
    "S": "5",
    "s": "5",
    "B": "8",
    "Z": "2",
    "z": "2",
}
