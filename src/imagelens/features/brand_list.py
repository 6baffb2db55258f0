"""The brand list of the ``brands`` feature: a configured file plus the user's additions, bounded.

* The file (``IMAGELENS_BRANDS__FILE``): a CSV with a header and a ``brand`` (or ``name``) column -- the first
  column otherwise -- or a text file with one name per line (``#`` starts a comment). Names are de-duplicated by
  their matching key (:func:`brand_key`), the first spelling wins. No list ships with imagelens.
* User additions live under the store dir (``IMAGELENS_STORE_DIR``, default ``$XDG_DATA_HOME/imagelens``) in
  ``brands/brands.json`` (``{"added": [...], "removed": [...]}``) and ``brands/examples/<key>/NNN.png`` (example
  crops: each becomes an image-embedding prototype of its brand when the image-text model is present); with
  ``IMAGELENS_DATABASE_URL`` in PostgreSQL instead (:mod:`imagelens.store.pg_additions`), shared by every host.
* Bounds: at most :data:`MAX_BRANDS` names in all, :data:`MAX_NAME_CHARS` characters per name,
  :data:`MAX_EXAMPLES` example crops per brand. A missing, unreadable, empty or oversized file is a server
  configuration error (:class:`~imagelens.vocab.VocabularyError`, 500); a bad name or crop given by a caller is a
  400 (:class:`~imagelens.errors.InvalidArgumentError`).
"""

from __future__ import annotations

import csv
import io
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError, NotFoundError, NotSupportedVisualFeatureError
from imagelens.store.additions import AdditionsState, VocabularyAdditions
from imagelens.vocab import VocabularyError

#: The most names a brand list may hold (file + additions). A file over it is refused, never truncated.
MAX_BRANDS = 10_000
MAX_NAME_CHARS = 100
MAX_EXAMPLES = 20
#: Example crops larger than this (either side) are shrunk before they are stored.
EXAMPLE_SIDE = 512

HOW_TO_GET_A_LIST = (
    "Set IMAGELENS_BRANDS__FILE to a brand list (a CSV with a 'brand' column or one name per line), for example "
    "brands_merged.csv, built from the OpenLogo and LogoDet-3K class lists (see docs/brands.md), or add brands "
    "with `imagelens brands add NAME...`."
)

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def brand_tokens(text: str) -> tuple[str, ...]:
    """Lower-case ASCII word tokens: accents dropped, ``&`` -> ``and``, apostrophes removed (``McDonald's`` ->
    ``mcdonalds``), every other non-alphanumeric a separator."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    folded = folded.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return tuple(t for t in _NON_ALNUM.split(folded) if t)


def brand_key(text: str) -> str:
    """The matching key: the tokens without separators (``Coca-Cola`` == ``coca cola`` == ``CocaCola``)."""
    return "".join(brand_tokens(text))


def check_brand_name(name: str) -> str:
    """A caller's brand name, stripped; 400 when empty, too long or without a letter or digit."""
    cleaned = " ".join(str(name).split())
    if not cleaned or not brand_key(cleaned):
        raise InvalidArgumentError(f"a brand name needs at least one letter or digit, got {name!r}")
    if len(cleaned) > MAX_NAME_CHARS:
        raise InvalidArgumentError(
            f"a brand name has at most {MAX_NAME_CHARS} characters, got {len(cleaned)}"
        )
    return cleaned


def _unique(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        key = brand_key(name)
        if key and key not in seen:
            seen.add(key)
            out.append(name)
    return out


def parse_brand_text(text: str, *, csv_format: bool, source: str) -> list[str]:
    """Names from a brand file's text (see the module doc); raises VocabularyError when it has none or too many."""
    names: list[str] = []
    if csv_format:
        rows = csv.reader(io.StringIO(text))
        header = [h.strip().lower() for h in next(rows, [])]
        column = next((header.index(c) for c in ("brand", "name") if c in header), 0)
        for row in rows:
            if len(row) > column and row[column].strip():
                names.append(" ".join(row[column].split()))
            if len(names) > 2 * MAX_BRANDS:
                break
    else:
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                names.append(" ".join(line.split()))
    names = [n for n in _unique(names) if len(n) <= MAX_NAME_CHARS]
    if not names:
        raise VocabularyError(f"the brand list {source} has no names. {HOW_TO_GET_A_LIST}")
    if len(names) > MAX_BRANDS:
        raise VocabularyError(
            f"the brand list {source} has {len(names):,} names; at most {MAX_BRANDS:,} are supported "
            "(choose the brands you need: each one costs a prompt embedding and OCR matching time)"
        )
    return names


_FILE_CACHE: dict[tuple[str, int, int], tuple[str, ...]] = {}
_FILE_LOCK = threading.Lock()


def read_brand_file(path: Path) -> tuple[str, ...]:
    """The names of a brand file, memoised by path, size and modification time."""
    try:
        stat = path.stat()
    except OSError:
        raise VocabularyError(f"the brand list file {path} does not exist. {HOW_TO_GET_A_LIST}") from None
    if not path.is_file():
        raise VocabularyError(f"the brand list {path} is not a file. {HOW_TO_GET_A_LIST}")
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _FILE_LOCK:
        found = _FILE_CACHE.get(key)
    if found is not None:
        return found
    if stat.st_size > 64 * MAX_BRANDS * MAX_NAME_CHARS // 10:  # far beyond any list of MAX_BRANDS names
        raise VocabularyError(
            f"the brand list {path} is {stat.st_size:,} bytes: too large for {MAX_BRANDS:,} names"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabularyError(f"cannot read the brand list {path}: {exc}") from None
    names = tuple(parse_brand_text(text, csv_format=path.suffix.lower() == ".csv", source=str(path)))
    with _FILE_LOCK:
        _FILE_CACHE[key] = names
    return names


@dataclass(frozen=True, slots=True)
class BrandList:
    """The names in use (file first, then additions, minus removals) and each brand's example crops."""

    names: tuple[str, ...]
    examples: Mapping[str, tuple[Path, ...]] = field(default_factory=lambda: MappingProxyType({}))
    source: str = ""

    def __len__(self) -> int:
        return len(self.names)


class BrandUserStore:
    """The user's additions and removals and example crops: files under ``<store dir>/brands``, or PostgreSQL with
    ``IMAGELENS_DATABASE_URL`` (:func:`imagelens.store.open_additions` chooses). The brand rules live here."""

    def __init__(self, backend: VocabularyAdditions) -> None:
        self.backend = backend

    @classmethod
    def for_settings(cls, settings: Settings) -> BrandUserStore:
        from imagelens.store import open_additions

        return cls(open_additions(settings, "brands"))

    @property
    def where(self) -> str:
        return self.backend.where

    def state(self) -> dict[str, list[str]]:
        found = self.backend.state()
        return {"added": list(found.added), "removed": list(found.removed)}

    def add(self, names: Iterable[str], *, current: int = 0) -> list[str]:
        """Add names (a removed name comes back); returns the names new to the additions. ``current``: the
        configured file's names, for the bound."""
        cleaned = [check_brand_name(n) for n in names]
        new: list[str] = []

        def edit(data: AdditionsState) -> AdditionsState:
            known = {brand_key(n) for n in data.added}
            new[:] = [n for n in _unique(cleaned) if brand_key(n) not in known]
            total = current + len(data.added) + len(new)
            if total > MAX_BRANDS:
                raise InvalidArgumentError(
                    f"adding {len(new)} brands would make {total:,}; at most {MAX_BRANDS:,} are supported"
                )
            keys = {brand_key(n) for n in cleaned}
            removed = tuple(n for n in data.removed if brand_key(n) not in keys)
            return AdditionsState((*data.added, *new), removed)

        self.backend.change(edit)
        return new

    def remove(self, name: str, *, in_file: bool) -> None:
        """Drop a name from the additions (and its examples); a name of the configured file is hidden instead."""
        key = brand_key(check_brand_name(name))

        def edit(data: AdditionsState) -> AdditionsState:
            added = tuple(n for n in data.added if brand_key(n) != key)
            if len(added) == len(data.added) and not in_file and key not in data.example_keys:
                raise NotFoundError(f"the brand {name!r} is not in the brand list")
            removed = data.removed
            if in_file and key not in {brand_key(n) for n in removed}:
                removed = (*removed, name)
            return AdditionsState(added, removed)

        self.backend.change(edit, drop_examples=key)

    def add_example(self, name: str, image: Path) -> str:
        """Store a copy of an example crop (PNG, at most :data:`EXAMPLE_SIDE` px a side); returns where."""
        from PIL import Image, UnidentifiedImageError

        name = check_brand_name(name)
        try:
            with Image.open(image) as img:
                crop = img.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise InvalidArgumentError(f"cannot read the example crop {image}: {exc}") from None
        if min(crop.size) < 8:
            raise InvalidArgumentError(f"an example crop needs at least 8x8 pixels, got {crop.size}")
        crop.thumbnail((EXAMPLE_SIDE, EXAMPLE_SIDE))
        png = io.BytesIO()
        crop.save(png, format="PNG")
        try:
            return self.backend.add_example(brand_key(name), png.getvalue(), MAX_EXAMPLES)
        except InvalidArgumentError:
            raise InvalidArgumentError(
                f"the brand {name!r} already has {MAX_EXAMPLES} example crops (the most)"
            ) from None

    def examples(self) -> dict[str, tuple[Path, ...]]:
        """Brand key -> its example crops (local files)."""
        return self.backend.examples()


def load_brand_list(settings: Settings, extra: Iterable[str] = ()) -> BrandList:
    """The configured file's names, the user's additions minus removals, and ``extra`` names for one call (400 when
    a name is bad or the total is over :data:`MAX_BRANDS`). No file and no additions: a configuration error that
    says how to get a list (NotSupportedVisualFeature, as for landmarks)."""
    store = BrandUserStore.for_settings(settings)
    state = store.state()
    file = settings.brands.file
    from_file = read_brand_file(file) if file is not None else ()
    extra_names = [check_brand_name(n) for n in extra]
    removed = {brand_key(n) for n in state["removed"]}
    names = [n for n in _unique([*from_file, *state["added"]]) if brand_key(n) not in removed]
    names = _unique([*names, *extra_names])
    if not names:
        # like landmarks: not available on this server until its operator configures a list (400, not a 5xx)
        raise NotSupportedVisualFeatureError(f"no brand list is configured. {HOW_TO_GET_A_LIST}")
    if len(names) > MAX_BRANDS:
        raise InvalidArgumentError(f"{len(names):,} brands in all; at most {MAX_BRANDS:,} are supported")
    keys = {brand_key(n): n for n in names}
    examples = {keys[k]: files for k, files in store.examples().items() if k in keys and files}
    source = str(file) if file is not None else "user additions"
    return BrandList(tuple(names), MappingProxyType(examples), source)
