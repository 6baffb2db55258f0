"""The OCR signal of the ``brands`` feature: brand names found among the words the reader found.

Each line's words are split into tokens (:func:`brand_tokens`) and joined in windows of 1 to ``max_words``
consecutive tokens (the most tokens a brand name in the list has, at most :data:`MAX_WINDOW`), and each window's key (:func:`brand_key`: lower-case letters and digits
only, so ``COCA-COLA``, ``Coca Cola`` and ``CocaCola`` are one key) is looked up in the list. The longest window
that matches wins and its words are not used again. Fuzzy matching is bounded by the length of the key
(:func:`max_edits`): none up to 5 characters, 1 edit (insert, delete or substitute) from 6 to 9, 2 from 10 on; it
uses a deletion index (SymSpell's idea), so a list of 10,000 names costs a few dictionary look-ups per window. An
exact match is preferred to a fuzzy one; a fuzzy window may not have more tokens than the brand name
(``OF MCDONALDS`` is not ``McDonald's`` with two edits), and a window that is itself an ordinary, correctly spelt
word or a window of such words (``ROLLER``, ``HANDLE``, ``HAPPY SNACKS``) is never corrected into a brand
(``rollei``, ``candle``, ``happy socks``).

The score of a hit is ``mean word confidence x (1 - edits / length)`` times :data:`ORDINARY_FACTOR` when the name
is also an ordinary word (``apple``, ``shell``, ``total``: the words of the shipped tag vocabulary and
:data:`COMMON_WORDS`) and :data:`SHORT_FACTOR` when its key has 3 characters or fewer. Names of fewer than
:data:`MIN_KEY` characters, and names of digits only, are never matched by text alone. The box is the matched words' bounding box.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from imagelens.features.brand_list import brand_key, brand_tokens
from imagelens.types import BoundingBox, ReadResult, Word

MAX_WINDOW = 5
MIN_KEY = 2
ORDINARY_FACTOR = 0.4
SHORT_FACTOR = 0.45

#: Words that are brand names in public logo lists but mostly mean something else on a page or a receipt
#: (chosen by hand, not learned; the shipped tag vocabulary's one-word tags are ordinary words too).
_COMMON = """a an and the of in on at to for by with from or no not new one all best total select quick head gap target
    shell corona apple cash change card credit debit tax sale sales amount price qty item items sub subtotal net
    change balance due paid payment receipt invoice bill thank thanks you welcome store shop market mart cafe
    restaurant bakery kitchen table service order take out dine express fresh daily free gift club member plus max
    mini pro one two three extra super ultra premium original classic natural organic pure gold silver star sun
    moon life home family city world global united national first tel fax no date time total rounding"""
COMMON_WORDS: frozenset[str] = frozenset(_COMMON.split())


def max_edits(length: int) -> int:
    """How many edits a key of ``length`` characters may be from a brand's key and still match."""
    return 0 if length <= 5 else 1 if length <= 9 else 2


def levenshtein(a: str, b: str, limit: int) -> int:
    """Edit distance, or ``limit + 1`` as soon as it is known to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _deletions(key: str, k: int) -> set[str]:
    out = {key}
    for n in range(1, k + 1):
        for drop in combinations(range(len(key)), n):
            out.add("".join(c for i, c in enumerate(key) if i not in drop))
    return out


@dataclass(frozen=True, slots=True)
class OcrHit:
    """A brand name read in the image: the brand, the score, the words' box and the text as read."""

    name: str
    score: float
    box: BoundingBox
    text: str
    edits: int


class BrandMatcher:
    """Looks brand names up among OCR words (see the module doc). Build once per brand list."""

    def __init__(self, names: Sequence[str], ordinary: Iterable[str] = ()) -> None:
        self.names = tuple(names)
        self.keys = tuple(brand_key(n) for n in self.names)
        self._ordinary_words = frozenset({brand_key(w) for w in ordinary} | COMMON_WORDS)
        self.ordinary = tuple(k in self._ordinary_words for k in self.keys)
        self.tokens = tuple(max(1, len(brand_tokens(n))) for n in self.names)
        self.max_words = min(MAX_WINDOW, max((len(brand_tokens(n)) for n in self.names), default=1))
        self._exact: dict[str, int] = {}
        self._index: dict[str, list[int]] = {}
        for i, key in enumerate(self.keys):
            if len(key) < MIN_KEY or key.isdigit():  # "76" is a brand, but "1.76" on a receipt is a price
                continue
            self._exact.setdefault(key, i)
            for variant in _deletions(key, max_edits(len(key))):
                self._index.setdefault(variant, []).append(i)

    def lookup(self, key: str, words: int = 1) -> tuple[int, int] | None:
        """``(brand index, edits)`` of the exact brand, else the closest brand within the bounds, for a window key
        of ``words`` words, or ``None``."""
        if len(key) < MIN_KEY:
            return None
        exact = self._exact.get(key)
        if exact is not None:
            return exact, 0
        return self.lookup_fuzzy(key, words)

    def is_ordinary(self, key: str) -> bool:
        """A correctly spelt ordinary word (or its plural)."""
        return key in self._ordinary_words or (key.endswith("s") and key[:-1] in self._ordinary_words)

    def lookup_fuzzy(self, key: str, words: int = 1, parts: Sequence[str] = ()) -> tuple[int, int] | None:
        """The closest brand within the bounds for a window that is not made of ordinary words (``parts``: the
        window's word keys)."""
        k = max_edits(len(key))
        if k == 0 or self.is_ordinary(key) or (parts and all(self.is_ordinary(p) for p in parts if p)):
            return None
        best: tuple[int, int] | None = None
        for variant in _deletions(key, k):
            for i in self._index.get(variant, ()):
                limit = min(k, max_edits(len(self.keys[i])))
                if limit == 0 or words > self.tokens[i]:
                    continue
                d = levenshtein(key, self.keys[i], limit)
                if d <= limit and (best is None or (d, i) < (best[1], best[0])):
                    best = (i, d)
        return best

    def score(self, index: int, edits: int, word_confidence: float) -> float:
        key = self.keys[index]
        value = word_confidence * (1.0 - edits / max(len(key), 1))
        if self.ordinary[index]:
            value *= ORDINARY_FACTOR
        if len(key) <= 3:
            value *= SHORT_FACTOR
        return min(1.0, max(0.0, value))

    def match_words(self, words: Sequence[Word]) -> list[OcrHit]:
        """Brand hits in one line's words, longest window first, each token used once. Windows run over the words'
        tokens, so a brand inside a longer word (``FACEBOOK.COM/SHOP``) is found; its box is the whole word's."""
        units = [(token, n) for n, w in enumerate(words) for token in brand_tokens(w.text)]
        keys = [token for token, _ in units]
        hits: list[OcrHit] = []
        i = 0
        while i < len(units):
            found = None
            sizes = range(min(self.max_words, len(units) - i), 0, -1)
            for size in sizes:  # exact first, the longest window first
                exact = self._exact.get("".join(keys[i : i + size]))
                if exact is not None:
                    found = (size, exact, 0)
                    break
            for size in sizes if found is None else ():
                match = self.lookup_fuzzy("".join(keys[i : i + size]), size, keys[i : i + size])
                if match is not None:
                    found = (size, *match)
                    break
            if found is None:
                i += 1
                continue
            size, index, edits = found
            chosen = [words[n] for n in sorted({n for _, n in units[i : i + size]})]
            confidence = sum(w.confidence for w in chosen) / len(chosen)
            boxes = [w.polygon.bounding_box() for w in chosen]
            box = BoundingBox.from_xyxy(
                min(b.x for b in boxes),
                min(b.y for b in boxes),
                max(b.x2 for b in boxes),
                max(b.y2 for b in boxes),
            )
            hits.append(
                OcrHit(self.names[index], self.score(index, edits, confidence), box,
                       " ".join(w.text for w in chosen), edits)
            )  # fmt: skip
            i += size
        return hits

    def match(self, read: ReadResult) -> list[OcrHit]:
        """Every brand hit in the OCR result, best first."""
        hits = [hit for line in read.lines for hit in self.match_words(line.words)]
        return sorted(hits, key=lambda h: -h.score)


@functools.lru_cache(maxsize=1)
def ordinary_words() -> frozenset[str]:
    """Every word of the shipped tag vocabulary (ordinary English nouns and adjectives), as brand keys."""
    from imagelens.vocab import load_vocabulary

    return frozenset(token for t in load_vocabulary("ram").tags for token in brand_tokens(t))


_MATCHERS: weakref.WeakValueDictionary[tuple[str, ...], BrandMatcher] = weakref.WeakValueDictionary()
_STRONG: list[BrandMatcher] = []  # the last few matchers stay alive
_LOCK = threading.Lock()


def matcher_for(names: Sequence[str]) -> BrandMatcher:
    """A matcher for this list, built once while it is in use (the last 4 lists are kept)."""
    key = tuple(names)
    with _LOCK:
        found = _MATCHERS.get(key)
    if found is not None:
        return found
    built = BrandMatcher(key, ordinary_words())
    with _LOCK:
        _MATCHERS[key] = built
        _STRONG.append(built)
        del _STRONG[:-4]
    return built
