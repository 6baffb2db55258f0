"""The landmark list: a configured file plus the user's additions. imagelens ships no landmark list.

- The file (``IMAGELENS_LANDMARKS__FILE``): ``.txt`` with one name a line (``#`` comments allowed), or ``.csv`` with
  a ``name`` column and an optional ``aliases`` column (``|``-separated other names, used as extra prompts), e.g. the
  curated list ``landmarks_curated/famous_landmarks.csv`` (docs/categories.md says where to get one).
- The additions: ``landmarks.json`` in the store folder (``IMAGELENS_STORE_DIR``), written by
  ``imagelens landmarks add`` (:func:`add_landmarks`); with ``IMAGELENS_DATABASE_URL`` in PostgreSQL instead, shared
  by every host (:func:`imagelens.store.open_additions`). The server re-reads them when they change, so an addition
  needs no restart.

Names are compared without regard to case; a name in both keeps the file's aliases. The file and the additions
together hold at most ``IMAGELENS_LANDMARKS__MAX_ENTRIES`` names (default 10,000; a clear 400 beyond it).
"""

from __future__ import annotations

import csv
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError, NotSupportedVisualFeatureError
from imagelens.store.additions import AdditionsState, VocabularyAdditions

__all__ = [
    "ADDITIONS_FILE",
    "MAX_NAME_CHARS",
    "LandmarkEntry",
    "LandmarkList",
    "add_landmarks",
    "additions_path",
    "additions_where",
    "list_additions",
    "load_landmark_list",
    "remove_landmarks",
]

ADDITIONS_FILE = "landmarks.json"
MAX_NAME_CHARS = 200
NOT_CONFIGURED = (
    "No landmark list is configured. imagelens ships none: set IMAGELENS_LANDMARKS__FILE to a list (.txt, one name "
    "a line, or .csv with a 'name' column), e.g. the curated 'landmarks_curated/famous_landmarks.csv' of the "
    "imagelens shared data, or add names with 'imagelens landmarks add NAME...' (docs/categories.md)."
)


@dataclass(frozen=True, slots=True)
class LandmarkEntry:
    name: str
    aliases: tuple[str, ...] = ()

    def phrases(self) -> tuple[str, ...]:
        """The name without its disambiguating parentheses (``Pantheon (Rome)`` -> ``Pantheon``), then aliases."""
        bare = re.sub(r"\s*\([^)]*\)", "", self.name).strip() or self.name
        return tuple(dict.fromkeys((bare, *self.aliases)))


@dataclass(frozen=True, slots=True)
class LandmarkList:
    entries: tuple[LandmarkEntry, ...]
    source: str
    from_file: int = 0  # the first ``from_file`` entries come from the file, the rest are additions

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)


def _clean(name: str) -> str:
    text = " ".join(str(name).split())
    if not text:
        raise InvalidArgumentError("a landmark name must not be empty")
    if len(text) > MAX_NAME_CHARS:
        raise InvalidArgumentError(
            f"a landmark name has at most {MAX_NAME_CHARS} characters, got {len(text)}"
        )
    return text


def _too_many(limit: int) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"The landmark list holds more than {limit} names; at most {limit} are allowed "
        "(IMAGELENS_LANDMARKS__MAX_ENTRIES, up to 100000)."
    )


def _read_file(path: Path, limit: int) -> list[LandmarkEntry]:
    """The file's entries; stops with a clear error as soon as there are more than ``limit``."""
    if not path.is_file():
        raise InvalidArgumentError(f"The landmark list '{path}' does not exist (IMAGELENS_LANDMARKS__FILE).")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(
            f"The landmark list '{path}' cannot be read as UTF-8 text: {exc}"
        ) from None
    entries: list[LandmarkEntry] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "name" not in reader.fieldnames:
            raise InvalidArgumentError(f"The landmark list '{path}' needs a 'name' column.")
        for row in reader:
            if (row.get("name") or "").strip():
                if len(entries) == limit:
                    raise _too_many(limit)
                aliases = tuple(_clean(a) for a in (row.get("aliases") or "").split("|") if a.strip())
                entries.append(LandmarkEntry(_clean(row["name"]), aliases))
        return entries
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            if len(entries) == limit:
                raise _too_many(limit)
            entries.append(LandmarkEntry(_clean(line)))
    return entries


def additions_path(settings: Settings) -> Path:
    from imagelens.store import default_store_dir

    return (settings.store_dir or default_store_dir()) / ADDITIONS_FILE


def _additions(settings: Settings) -> VocabularyAdditions:
    from imagelens.store import open_additions

    return open_additions(settings, "landmarks")


def additions_where(settings: Settings) -> str:
    """Where the additions are kept: the file, or the database."""
    return _additions(settings).where


def list_additions(settings: Settings) -> list[str]:
    """The names the user added, in the order added."""
    return [_clean(n) for n in _additions(settings).state().added]


def add_landmarks(settings: Settings, names: list[str]) -> list[str]:
    """Add names (kept once, case-insensitively); returns the names that were new. Bounded by ``max_entries``."""
    cleaned = [_clean(n) for n in names]
    limit = settings.landmarks.max_entries
    new: list[str] = []

    def edit(data: AdditionsState) -> AdditionsState | None:
        seen = {n.casefold() for n in data.added}
        new.clear()
        for name in cleaned:
            if name.casefold() not in seen:
                seen.add(name.casefold())
                new.append(name)
        if len(data.added) + len(new) > limit:
            raise InvalidArgumentError(
                f"At most {limit} landmarks may be added (IMAGELENS_LANDMARKS__MAX_ENTRIES); "
                f"{len(data.added)} are, {len(new)} more asked."
            )
        return AdditionsState((*data.added, *new)) if new else None

    _additions(settings).change(edit)
    return new


def remove_landmarks(settings: Settings, names: list[str]) -> list[str]:
    """Remove added names (case-insensitively); returns the names removed. Names of the file stay."""
    wanted = {_clean(n).casefold() for n in names}
    removed: list[str] = []

    def edit(data: AdditionsState) -> AdditionsState | None:
        removed[:] = [n for n in data.added if n.casefold() in wanted]
        return AdditionsState(tuple(n for n in data.added if n.casefold() not in wanted)) if removed else None

    _additions(settings).change(edit)
    return removed


_CACHE: dict[tuple[object, ...], LandmarkList] = {}
_CACHE_LOCK = threading.Lock()


def _stamp(path: Path | None) -> tuple[object, ...]:
    if path is None:
        return (None,)
    try:
        st = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), st.st_mtime_ns, st.st_size)


def load_landmark_list(settings: Settings) -> LandmarkList:
    """The file's entries then the additions (re-read when either file changes). NotSupportedVisualFeature (400)
    when neither exists; InvalidArgument (400) for a missing or unreadable file, or a list over the bound."""
    file, additions = settings.landmarks.file, _additions(settings)
    key = (_stamp(file), additions.revision(), settings.landmarks.max_entries)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
    if found is not None:
        return found
    limit = settings.landmarks.max_entries
    entries = _read_file(file, limit) if file is not None else []
    extra = [_clean(n) for n in additions.state().added]
    if not entries and not extra:
        if file is not None:
            raise InvalidArgumentError(f"The landmark list '{file}' holds no names.")
        raise NotSupportedVisualFeatureError(NOT_CONFIGURED)
    merged: dict[str, LandmarkEntry] = {}
    for entry in [*entries, *(LandmarkEntry(n) for n in extra)]:
        merged.setdefault(entry.name.casefold(), entry)
    if len(merged) > limit:
        raise _too_many(limit)
    source = ", ".join([*([str(file)] if file else []), *([additions.where] if extra else [])])
    from_file = len({e.name.casefold() for e in entries})
    result = LandmarkList(tuple(merged.values()), source, from_file)
    with _CACHE_LOCK:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = result
    return result
