"""The brand list of the ``brands`` feature: a configured file plus the user's additions, bounded.

* The file (``IMAGELENS_BRANDS__FILE``): a CSV with a header and a ``brand`` (or ``name``) column -- the first
  column otherwise -- or a text file with one name per line (``#`` starts a comment). Names are de-duplicated by
  their matching key (:func:`brand_key`), the first spelling wins. No list ships with imagelens.
* User additions live under the store dir (``IMAGELENS_STORE_DIR``, default ``$XDG_DATA_HOME/imagelens``) in
  ``brands/brands.json`` (``{"added": [...], "removed": [...]}``) and ``brands/examples/<key>/NNN.png`` (example
  crops: each becomes an image-embedding prototype of its brand when the image-text model is present).
* Bounds: at most :data:`MAX_BRANDS` names in all, :data:`MAX_NAME_CHARS` characters per name,
  :data:`MAX_EXAMPLES` example crops per brand. A missing, unreadable, empty or oversized file is a server
  configuration error (:class:`~imagelens.vocab.VocabularyError`, 500); a bad name or crop given by a caller is a
  400 (:class:`~imagelens.errors.InvalidArgumentError`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError, NotFoundError, NotSupportedVisualFeatureError
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
    """The user's additions and removals and example crops, under ``<store dir>/brands``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> BrandUserStore:
        from imagelens.store import default_store_dir

        base = settings.store_dir if settings.store_dir is not None else default_store_dir()
        return cls(base / "brands")

    @property
    def _file(self) -> Path:
        return self.root / "brands.json"

    def _read(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"added": [], "removed": []}
        except (OSError, ValueError) as exc:
            raise VocabularyError(f"cannot read the brand additions {self._file}: {exc}") from None
        return {"added": list(data.get("added", [])), "removed": list(data.get("removed", []))}

    def _write(self, data: Mapping[str, list[str]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(data), indent=1, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self._file)

    def state(self) -> dict[str, list[str]]:
        with self._lock:
            return self._read()

    def add(self, names: Iterable[str], *, current: int = 0) -> list[str]:
        """Add names (a removed name comes back); returns the names new to the additions."""
        cleaned = [check_brand_name(n) for n in names]
        with self._lock:
            data = self._read()
            known = {brand_key(n) for n in data["added"]}
            new = [n for n in _unique(cleaned) if brand_key(n) not in known]
            if current + len(new) > MAX_BRANDS:
                raise InvalidArgumentError(
                    f"adding {len(new)} brands would make {current + len(new):,}; at most {MAX_BRANDS:,} are supported"
                )
            keys = {brand_key(n) for n in cleaned}
            data["removed"] = [n for n in data["removed"] if brand_key(n) not in keys]
            data["added"] += new
            self._write(data)
        return new

    def remove(self, name: str, *, in_file: bool) -> None:
        """Drop a name from the additions (and its examples); a name of the configured file is hidden instead."""
        key = brand_key(check_brand_name(name))
        with self._lock:
            data = self._read()
            added = [n for n in data["added"] if brand_key(n) != key]
            examples = self.examples_dir(name)
            if len(added) == len(data["added"]) and not in_file and not examples.is_dir():
                raise NotFoundError(f"the brand {name!r} is not in the brand list")
            data["added"] = added
            if in_file and key not in {brand_key(n) for n in data["removed"]}:
                data["removed"].append(name)
            self._write(data)
            if examples.is_dir():
                for file in examples.iterdir():
                    file.unlink()
                examples.rmdir()

    def examples_dir(self, name: str) -> Path:
        return self.root / "examples" / brand_key(name)

    def add_example(self, name: str, image: Path) -> Path:
        """Store a copy of an example crop (PNG, at most :data:`EXAMPLE_SIDE` px a side) and add the name."""
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
        folder = self.examples_dir(name)
        existing = sorted(folder.glob("*.png")) if folder.is_dir() else []
        if len(existing) >= MAX_EXAMPLES:
            raise InvalidArgumentError(
                f"the brand {name!r} already has {MAX_EXAMPLES} example crops (the most)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        number = max((int(p.stem) for p in existing if p.stem.isdigit()), default=0) + 1
        out = folder / f"{number:03d}.png"
        crop.save(out)
        return out

    def examples(self) -> dict[str, tuple[Path, ...]]:
        """Brand key -> its example crops."""
        root = self.root / "examples"
        if not root.is_dir():
            return {}
        return {d.name: tuple(sorted(d.glob("*.png"))) for d in sorted(root.iterdir()) if d.is_dir()}


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
