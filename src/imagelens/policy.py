"""Result policy, in one place: gender-neutral captions (thresholds and tag allow/block lists will join it).

Azure's ``gender-neutral-caption=true`` replaces gendered words in captions and dense captions with neutral ones.
:func:`neutralize_gender` does it with a word table, pure and deterministic:

* whole words only, so "human", "manager", "snowman" or "Shermann" stay as they are, and so do hyphenated compounds
  ("man-made"); a possessive "'s" stays attached ("woman's" -> "person's");
* the case of the original is kept: ``man`` -> ``person``, ``Man`` -> ``Person``, ``MAN`` -> ``PERSON``;
* "her" is possessive ("her dog" -> "their dog") when a word that is not a function word follows it, otherwise it is
  an object ("looking at her" -> "looking at them", "her and a dog" -> "them and a dog");
* "he"/"she" become "they", and a directly following "is/was/has/does" agrees ("she is" -> "they are"); other verbs
  are left alone ("she holds" -> "they holds"): captions rarely have pronouns, and a wrong conjugation is a smaller
  harm than a wrong rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

#: Gendered word -> neutral word (lower case; singular and plural both listed).
GENDER_NEUTRAL_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "man": "person",
        "men": "people",
        "woman": "person",
        "women": "people",
        "boy": "child",
        "boys": "children",
        "girl": "child",
        "girls": "children",
        "lady": "person",
        "ladies": "people",
        "gentleman": "person",
        "gentlemen": "people",
        "guy": "person",
        "guys": "people",
        "gal": "person",
        "gals": "people",
        "husband": "spouse",
        "husbands": "spouses",
        "wife": "spouse",
        "wives": "spouses",
        "bride": "spouse",
        "groom": "spouse",
        "boyfriend": "partner",
        "boyfriends": "partners",
        "girlfriend": "partner",
        "girlfriends": "partners",
        "mother": "parent",
        "mothers": "parents",
        "father": "parent",
        "fathers": "parents",
        "mom": "parent",
        "moms": "parents",
        "mum": "parent",
        "mums": "parents",
        "dad": "parent",
        "dads": "parents",
        "grandmother": "grandparent",
        "grandmothers": "grandparents",
        "grandfather": "grandparent",
        "grandfathers": "grandparents",
        "grandma": "grandparent",
        "grandpa": "grandparent",
        "son": "child",
        "sons": "children",
        "daughter": "child",
        "daughters": "children",
        "brother": "sibling",
        "brothers": "siblings",
        "sister": "sibling",
        "sisters": "siblings",
        "uncle": "relative",
        "uncles": "relatives",
        "aunt": "relative",
        "aunts": "relatives",
        "nephew": "relative",
        "niece": "relative",
        "king": "monarch",
        "kings": "monarchs",
        "queen": "monarch",
        "queens": "monarchs",
        "prince": "royal",
        "princess": "royal",
        "businessman": "businessperson",
        "businessmen": "businesspeople",
        "businesswoman": "businessperson",
        "businesswomen": "businesspeople",
        "policeman": "police officer",
        "policemen": "police officers",
        "policewoman": "police officer",
        "policewomen": "police officers",
        "fireman": "firefighter",
        "firemen": "firefighters",
        "chairman": "chairperson",
        "chairwoman": "chairperson",
        "spokesman": "spokesperson",
        "spokeswoman": "spokesperson",
        "salesman": "salesperson",
        "saleswoman": "salesperson",
        "fisherman": "fisher",
        "fishermen": "fishers",
        "sportsman": "athlete",
        "sportsmen": "athletes",
        "cameraman": "camera operator",
        "cameramen": "camera operators",
        "actress": "actor",
        "actresses": "actors",
        "waitress": "server",
        "waitresses": "servers",
        "waiter": "server",
        "waiters": "servers",
        "he": "they",
        "she": "they",
        "him": "them",
        "his": "their",
        "hers": "theirs",
        "himself": "themselves",
        "herself": "themselves",
        "he's": "they're",
        "she's": "they're",
    }
)

#: Words after which "her" is an object ("with her and ...") rather than a possessive ("her dog").
_FUNCTION_WORDS = frozenset(
    {
        *(
            "a",
            "an",
            "the",
            "and",
            "or",
            "but",
            "nor",
            "so",
            "yet",
            "to",
            "in",
            "on",
            "at",
            "by",
            "for",
            "from",
        ),
        *(
            "of",
            "off",
            "out",
            "up",
            "down",
            "over",
            "under",
            "into",
            "onto",
            "with",
            "without",
            "about",
            "above",
        ),
        *("below", "behind", "beside", "between", "near", "through", "while", "as", "than", "that", "this"),
        *(
            "these",
            "those",
            "is",
            "are",
            "was",
            "were",
            "be",
            "been",
            "being",
            "has",
            "have",
            "had",
            "do",
            "does",
        ),
        *("did", "will", "would", "can", "could", "may", "might", "must", "shall", "should"),
    }
)

_AGREEMENT = {"is": "are", "was": "were", "has": "have", "does": "do", "isn't": "aren't", "wasn't": "weren't",
              "hasn't": "haven't", "doesn't": "don't"}  # fmt: skip

_APOSTROPHES = "'\u2019"
_WORD = r"[A-Za-z]+(?:['\u2019][A-Za-z]+)?"
# A word not inside another word or a hyphenated compound, with the article before it when there is one.
_TOKEN_RE = re.compile(rf"(?<![\w-])(?:(?P<article>[Aa][Nn]?)(?P<gap>\s+))?(?P<word>{_WORD})(?![\w-])")
_PRONOUN_VERB_RE = re.compile(
    r"(?<![\w-])(he|she)(\s+)(is|was|has|does|isn't|wasn't|hasn't|doesn't)(?![\w-])", re.I
)
_NEXT_WORD_RE = re.compile(r"\s+([A-Za-z]+)")


def _match_case(source: str, replacement: str) -> str:
    """``replacement`` written in the case pattern of ``source`` (lower, Title or UPPER)."""
    if source.isupper() and len(source) > 1:
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _article_for(article: str, word: str) -> str:
    """ "a" or "an" (in ``article``'s case) for the word that now follows it."""
    wanted = "an" if word[:1].lower() in "aeiou" else "a"
    if article.isupper() and len(article) > 1:
        return wanted.upper()
    return _match_case(article, wanted)


def _her(text: str, end: int) -> str:
    """ "their" when a content word follows "her" (possessive), else "them" (object)."""
    following = _NEXT_WORD_RE.match(text, end)
    if following is None or following.group(1).lower() in _FUNCTION_WORDS:
        return "them"
    return "their"


def _neutral(word: str, text: str, end: int) -> str | None:
    """The neutral form of one word (case kept), or ``None`` when it is not gendered."""
    key = word.lower()
    for apostrophe in _APOSTROPHES[1:]:
        key = key.replace(apostrophe, "'")
    if key == "her":
        return _match_case(word, _her(text, end))
    if key in GENDER_NEUTRAL_WORDS:
        return _match_case(word, GENDER_NEUTRAL_WORDS[key])
    if key.endswith("'s") and key[:-2] in GENDER_NEUTRAL_WORDS:  # possessive: "woman's" -> "person's"
        return _match_case(word[:-2], GENDER_NEUTRAL_WORDS[key[:-2]]) + word[-2:]
    return None


def neutralize_gender(text: str) -> str:
    """``text`` with gendered words replaced by neutral ones, keeping case, spacing and punctuation.

    An article before a replaced word follows its new first letter ("an uncle" -> "a relative").

    >>> neutralize_gender("A woman and her dog.")
    'A person and their dog.'
    """

    def agree(match: re.Match[str]) -> str:
        verb = match.group(3)
        return f"{_match_case(match.group(1), 'they')}{match.group(2)}{_match_case(verb, _AGREEMENT[verb.lower()])}"

    text = _PRONOUN_VERB_RE.sub(agree, text)

    def replace(match: re.Match[str]) -> str:
        word = match.group("word")
        neutral = _neutral(word, text, match.end())
        article = match.group("article")
        if neutral is None:
            return match.group(0)
        if article is None:
            return neutral
        return f"{_article_for(article, neutral)}{match.group('gap')}{neutral}"

    return _TOKEN_RE.sub(replace, text)
