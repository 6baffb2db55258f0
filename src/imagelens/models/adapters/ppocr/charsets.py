"""Which characters a page may contain, decided from the page itself.

The PP-OCR recognisers read ~18,000 classes (Chinese, Japanese, Latin with diacritics, symbols). On a page printed in
one script that breadth costs accuracy: a row of ``*`` comes out as ``家家``, a smudged ``a`` as ``à``, ``:`` as the
full-width ``：``. Documents are overwhelmingly written in one script, so we look at what the unconstrained decoding
found on the whole page and, when nearly all letters are Latin (or nearly all plain ASCII), decode again with the
other classes forbidden. The model then picks its best *allowed* reading (``*``, ``a``, ``:``) rather than losing the
character. A page with a real share of other scripts (a bilingual receipt, a Chinese page) is left alone.

The thresholds are properties of languages, not of any data set: text in a language written with diacritics has
several percent of accented letters (French ~4 %, Spanish/German/Portuguese 1.5-3 %), while English/Malay/Indonesian
text has none, so a page below ``max_accented`` is treated as plain ASCII. A page where other scripts make up less
than ``max_foreign`` of the letters is treated as Latin.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt

# Non-ASCII symbols that are common in Latin-script print and stay allowed on an ASCII page.
EXTRA_SYMBOLS = frozenset("£€¥¢°•·–—‘’“”©®™×÷±§µ")


class CharsetPolicy(StrEnum):
    """What a page may contain: anything, Latin-script text, or plain ASCII text (plus :data:`EXTRA_SYMBOLS`)."""

    ANY = "any"
    LATIN = "latin"
    ASCII = "ascii"


@functools.lru_cache(maxsize=65536)
def is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN")


def is_ascii_text_char(ch: str) -> bool:
    return (" " <= ch <= "~") or ch in EXTRA_SYMBOLS


@functools.lru_cache(maxsize=65536)
def is_latin_text_char(ch: str) -> bool:
    """Latin letters (any diacritic), digits, and punctuation/symbols from the Latin-1 and general punctuation blocks."""
    if is_ascii_text_char(ch) or is_latin_letter(ch):
        return True
    code = ord(ch)
    return 0x00A0 <= code <= 0x00BF or 0x2010 <= code <= 0x205E or 0x20A0 <= code <= 0x20CF


def allows(policy: CharsetPolicy, ch: str) -> bool:
    if policy is CharsetPolicy.ANY:
        return True
    if policy is CharsetPolicy.LATIN:
        return is_latin_text_char(ch)
    return is_ascii_text_char(ch)


def detect_policy(
    texts: Iterable[str], *, max_foreign: float = 0.10, max_accented: float = 0.01, min_letters: int = 20
) -> CharsetPolicy:
    """The narrowest policy the page's unconstrained reading supports.

    ``max_foreign``: largest share of non-Latin letters for the page to count as Latin. ``max_accented``: largest share
    of Latin letters outside ASCII for it to count as ASCII. With fewer than ``min_letters`` letters there is too little
    evidence and the answer is ``ANY``.
    """
    letters = latin = accented = 0
    for text in texts:
        for ch in text:
            if not ch.isalpha():
                continue
            letters += 1
            if is_latin_letter(ch):
                latin += 1
                if not ch.isascii():
                    accented += 1
    if letters < min_letters:
        return CharsetPolicy.ANY
    if (letters - latin) > max_foreign * letters:
        return CharsetPolicy.ANY
    if accented > max_accented * latin:
        return CharsetPolicy.LATIN
    return CharsetPolicy.ASCII


def forbidden_classes(vocabulary: Sequence[str], policy: CharsetPolicy) -> npt.NDArray[np.intp]:
    """Indices of the classes a policy forbids. Index 0 (the CTC blank) is never forbidden."""
    if policy is CharsetPolicy.ANY:
        return np.zeros(0, dtype=np.intp)
    bad = [i for i, text in enumerate(vocabulary) if i > 0 and not all(allows(policy, ch) for ch in text)]
    return np.asarray(bad, dtype=np.intp)
