"""Tag vocabularies: the concepts an open-vocabulary tagger scores, their names per language, the tags switched off.

The default is RAM's 4,585-tag list (Recognize Anything, Apache-2.0; 4,574 scored once RAM's 11 disabled tags are dropped), shipped inside the package
(``imagelens/data/ram_tags``) so tagging works for a user who has nothing but the wheel. Its English names are the
text that is embedded and scored; other languages only change the *names shown* (RAM carries Chinese names), so
``language=zh`` returns the same tags with the same confidences as ``language=en``. A language the vocabulary has
no names for is refused with :class:`NotSupportedLanguageError` rather than answered in English.

A vocabulary file is either a CSV with a header (a ``tag`` column; optional ``tag_<language>`` columns with
localised names; optional ``disabled`` (1/true) or ``ram_threshold`` columns, a RAM threshold of
:data:`DISABLED_THRESHOLD` or more marking a tag RAM itself switched off) or a text file with one tag per line.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from imagelens.errors import ImageLensError, InvalidArgumentError, NotSupportedLanguageError

#: The name of the vocabulary shipped with the package.
RAM = "ram"
#: RAM sets the threshold of the tags it disables to 1.0 (one, ``singe``, to 0.99): at or above this, a tag is off.
DISABLED_THRESHOLD = 0.99

#: Language codes (lower case) that name the same names as a shorter code. RAM's Chinese names are Simplified.
LANGUAGE_ALIASES: Mapping[str, str] = MappingProxyType(
    {"zh-hans": "zh", "zh-cn": "zh", "zh-sg": "zh", "zh-hans-cn": "zh", "en-us": "en", "en-gb": "en"}
)


class VocabularyError(ImageLensError):
    """A vocabulary file that is missing or malformed: a server configuration problem (500), not the caller's."""


def normalize_language(code: str) -> str:
    """``"zh-Hans"`` -> ``"zh"``, ``"EN"`` -> ``"en"``; unknown codes come back lower-cased, unchanged otherwise."""
    lowered = code.strip().lower().replace("_", "-")
    return LANGUAGE_ALIASES.get(lowered, lowered)


@dataclass(frozen=True, slots=True)
class TagVocabulary:
    """Tags in a fixed order; ``names[lang][i]`` is how tag ``i`` is shown in ``lang`` (``"en"`` is ``tags``).

    ``disabled[i]`` marks a tag that is kept for index compatibility with the source file but never reported;
    :meth:`enabled` drops them.
    """

    name: str
    tags: tuple[str, ...]
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    disabled: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if not self.tags:
            raise VocabularyError(f"vocabulary {self.name!r} has no tags")
        if any(not t.strip() for t in self.tags):
            raise VocabularyError(f"vocabulary {self.name!r} has an empty tag")
        seen: set[str] = set()
        for tag in self.tags:
            if tag.lower() in seen:
                raise VocabularyError(
                    f"vocabulary {self.name!r} lists the tag {tag!r} twice (case-insensitive)"
                )
            seen.add(tag.lower())
        names = {normalize_language(k): tuple(v) for k, v in self.names.items()}
        names.setdefault("en", self.tags)
        for lang, values in names.items():
            if len(values) != len(self.tags):
                raise VocabularyError(
                    f"vocabulary {self.name!r}: {len(values)} names for language {lang!r}, expected {len(self.tags)}"
                )
        object.__setattr__(self, "names", MappingProxyType(names))
        disabled = tuple(bool(d) for d in self.disabled) or (False,) * len(self.tags)
        if len(disabled) != len(self.tags):
            raise VocabularyError(
                f"vocabulary {self.name!r}: {len(disabled)} disabled flags, expected {len(self.tags)}"
            )
        object.__setattr__(self, "disabled", disabled)

    def __len__(self) -> int:
        return len(self.tags)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.names))

    @property
    def disabled_tags(self) -> tuple[str, ...]:
        return tuple(t for t, off in zip(self.tags, self.disabled, strict=True) if off)

    def names_for(self, language: str) -> tuple[str, ...]:
        """Display names in ``language``; :class:`NotSupportedLanguageError` when the vocabulary has none."""
        lang = normalize_language(language)
        try:
            return self.names[lang]
        except KeyError:
            raise NotSupportedLanguageError(
                f"Tags are not available in language '{language}'. "
                f"The '{self.name}' tag vocabulary supports: {', '.join(self.languages)}."
            ) from None

    def enabled(self) -> TagVocabulary:
        """The same vocabulary without its disabled tags (itself when none is disabled)."""
        if not any(self.disabled):
            return self
        keep = [i for i, off in enumerate(self.disabled) if not off]
        return TagVocabulary(
            name=self.name,
            tags=tuple(self.tags[i] for i in keep),
            names={lang: tuple(values[i] for i in keep) for lang, values in self.names.items()},
        )

    @property
    def fingerprint(self) -> str:
        """A hash of the scored texts (the English tags, in order): what a cached text embedding depends on."""
        return hashlib.sha256("\n".join(self.tags).encode("utf-8")).hexdigest()


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "y"}


def parse_csv(text: str, name: str) -> TagVocabulary:
    """A vocabulary from CSV text (see the module docstring for the columns)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    if "tag" not in columns:
        raise VocabularyError(f"vocabulary {name!r}: the CSV needs a 'tag' column, found columns {columns}")
    lang_columns = {c: c.removeprefix("tag_") for c in columns if c.startswith("tag_") and len(c) > 4}
    tags: list[str] = []
    names: dict[str, list[str]] = {lang: [] for lang in lang_columns.values()}
    disabled: list[bool] = []
    for line, row in enumerate(reader, start=2):
        tag = (row.get("tag") or "").strip()
        if not tag:
            raise VocabularyError(f"vocabulary {name!r}: empty tag on line {line}")
        tags.append(tag)
        for column, lang in lang_columns.items():
            # A missing localised name falls back to the English one rather than showing nothing.
            names[lang].append((row.get(column) or "").strip() or tag)
        off = _truthy(row.get("disabled") or "")
        threshold = (row.get("ram_threshold") or "").strip()
        if threshold:
            try:
                off = off or float(threshold) >= DISABLED_THRESHOLD
            except ValueError:
                raise VocabularyError(
                    f"vocabulary {name!r}: ram_threshold on line {line} must be a number, got {threshold!r}"
                ) from None
        disabled.append(off)
    return TagVocabulary(
        name=name, tags=tuple(tags), names={k: tuple(v) for k, v in names.items()}, disabled=tuple(disabled)
    )


def parse_lines(text: str, name: str) -> TagVocabulary:
    """A vocabulary from one tag per line (blank lines ignored)."""
    return TagVocabulary(name=name, tags=tuple(line.strip() for line in text.splitlines() if line.strip()))


def _read_ram() -> str:
    return (
        resources.files("imagelens").joinpath("data", "ram_tags", "ram_tags.csv").read_text(encoding="utf-8")
    )


@functools.lru_cache(maxsize=8)
def _load_cached(source: str, drop_disabled: bool) -> TagVocabulary:
    if source == RAM:
        vocab = parse_csv(_read_ram(), RAM)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise VocabularyError(
                f"Tag vocabulary file not found: {path}. Give a CSV with a 'tag' column, a text file with one tag "
                f"per line, or '{RAM}' for the built-in list."
            )
        text = path.read_text(encoding="utf-8")
        vocab = parse_csv(text, path.stem) if path.suffix.lower() == ".csv" else parse_lines(text, path.stem)
    return vocab.enabled() if drop_disabled else vocab


def load_vocabulary(source: str | Path = RAM, *, drop_disabled: bool = True) -> TagVocabulary:
    """The built-in RAM list (``"ram"``) or a vocabulary file; disabled tags dropped unless asked otherwise.

    Loaded once per (source, drop_disabled) per process.
    """
    if isinstance(source, Path):
        key = str(source.expanduser().resolve())
    elif isinstance(source, str) and source.strip():
        key = source.strip() if source.strip() == RAM else str(Path(source.strip()).expanduser().resolve())
    else:
        raise InvalidArgumentError(f"a vocabulary source must be '{RAM}' or a file path, got {source!r}")
    return _load_cached(key, drop_disabled)


def vocabulary_from_tags(tags: Sequence[str], name: str = "custom") -> TagVocabulary:
    """An in-memory English-only vocabulary (e.g. for a caller's own tag list)."""
    return TagVocabulary(name=name, tags=tuple(t.strip() for t in tags))
