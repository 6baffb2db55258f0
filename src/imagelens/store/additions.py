"""The user's additions to a vocabulary (the brand list, the landmark list): names added, names hidden, and example
crops (PNG) per entry key, behind one Protocol (:class:`VocabularyAdditions`) with two backends:

* files in the store folder (:class:`FileAdditions`, the default: one host), and
* PostgreSQL (:class:`~imagelens.store.pg_additions.PostgresAdditions`, with ``IMAGELENS_DATABASE_URL``: every
  replica, on any host, sees one list).

:func:`imagelens.store.open_additions` chooses. The vocabulary's own rules (name cleaning, matching keys, bounds)
stay with the vocabulary (:mod:`imagelens.features.brand_list`, :mod:`imagelens.features.landmark_list`): a change
is a function from the current :class:`AdditionsState` to the new one, applied atomically by the backend.

Standard library only.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from imagelens.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class AdditionsState:
    """Names added (in the order added), names hidden, and the keys that have example crops."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    example_keys: frozenset[str] = frozenset()


#: A change: the current state -> the new one (``None``: nothing to write). It may raise to refuse the change.
Edit = Callable[[AdditionsState], AdditionsState | None]


class AdditionsError(InvalidArgumentError):
    """The stored additions cannot be read (a damaged file)."""


class VocabularyAdditions(Protocol):
    """One vocabulary's additions. Every change is atomic; readers on any replica see it without a restart."""

    #: Where the additions are, for messages (a folder, or the database without its password).
    where: str

    def revision(self) -> Hashable:
        """A cheap stamp that changes whenever the additions change (keys caches of derived lists)."""
        ...

    def state(self) -> AdditionsState: ...

    def change(self, edit: Edit, *, drop_examples: str | None = None) -> AdditionsState:
        """Apply ``edit`` to the current state atomically (and, when it writes, delete ``drop_examples``'s crops);
        returns the state after."""
        ...

    def add_example(self, key: str, png: bytes, limit: int) -> str:
        """Store one example crop (PNG bytes) of ``key``; refuses (400) a key with ``limit`` crops already.
        Returns where it is."""
        ...

    def examples(self) -> dict[str, tuple[Path, ...]]:
        """Key -> its example crops as local files (a file's path changes when its content does)."""
        ...


class FileAdditions:
    """Additions in a JSON file (``{"added": [...], "removed": [...]}``, or ``{"<names_field>": [...]}`` for a list
    without removals) and example crops in ``<examples_dir>/<key>/NNN.png``. Changes are serialised within a
    process; the file is replaced atomically."""

    _locks: dict[str, threading.Lock] = {}
    _locks_guard = threading.Lock()

    def __init__(
        self, file: Path, examples_dir: Path | None = None, *, names_field: str | None = None
    ) -> None:
        self.file = file
        self.examples_dir = examples_dir
        self.names_field = names_field
        self.where = str(file.parent if names_field is None else file)
        with self._locks_guard:
            self._lock = self._locks.setdefault(str(file), threading.Lock())

    def _stamp(self, path: Path) -> tuple[object, ...]:
        try:
            st = path.stat()
        except OSError:
            return (None,)
        return (st.st_mtime_ns, st.st_size)

    def revision(self) -> Hashable:
        stamp = (str(self.file), *self._stamp(self.file))
        if self.examples_dir is not None and self.examples_dir.is_dir():
            folders = sorted(p for p in self.examples_dir.iterdir() if p.is_dir())
            stamp += tuple((p.name, *self._stamp(p)) for p in folders)
        return stamp

    def _read(self) -> AdditionsState:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            if self.names_field is not None:
                added, removed = data[self.names_field], []
            else:
                added, removed = data.get("added", []), data.get("removed", [])
            if not all(isinstance(n, str) for n in [*added, *removed]):
                raise TypeError("names must be strings")
        except FileNotFoundError:
            added, removed = [], []
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AdditionsError(f"The additions file '{self.file}' is not valid JSON: {exc}") from None
        return AdditionsState(tuple(added), tuple(removed), frozenset(self._example_files()))

    def _write(self, state: AdditionsState) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        if self.names_field is not None:
            data: dict[str, list[str]] = {self.names_field: list(state.added)}
        else:
            data = {"added": list(state.added), "removed": list(state.removed)}
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.file)

    def state(self) -> AdditionsState:
        with self._lock:
            return self._read()

    def change(self, edit: Edit, *, drop_examples: str | None = None) -> AdditionsState:
        with self._lock:
            current = self._read()
            new = edit(current)
            if new is None:
                return current
            self._write(new)
            if drop_examples is not None and self.examples_dir is not None:
                folder = self.examples_dir / drop_examples
                if folder.is_dir():
                    for file in folder.iterdir():
                        file.unlink()
                    folder.rmdir()
            return self._read()

    def add_example(self, key: str, png: bytes, limit: int) -> str:
        if self.examples_dir is None:
            raise InvalidArgumentError("this list keeps no example crops")
        with self._lock:
            folder = self.examples_dir / key
            existing = sorted(folder.glob("*.png")) if folder.is_dir() else []
            if len(existing) >= limit:
                raise InvalidArgumentError(f"'{key}' already has {limit} example crops (the most)")
            folder.mkdir(parents=True, exist_ok=True)
            number = max((int(p.stem) for p in existing if p.stem.isdigit()), default=0) + 1
            out = folder / f"{number:03d}.png"
            out.write_bytes(png)
        return str(out)

    def _example_files(self) -> dict[str, tuple[Path, ...]]:
        root = self.examples_dir
        if root is None or not root.is_dir():
            return {}
        return {d.name: tuple(sorted(d.glob("*.png"))) for d in sorted(root.iterdir()) if d.is_dir()}

    def examples(self) -> dict[str, tuple[Path, ...]]:
        return self._example_files()
