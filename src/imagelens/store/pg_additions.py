"""Vocabulary additions (:class:`~imagelens.store.additions.VocabularyAdditions`) in PostgreSQL, shared by every
replica on any host (``IMAGELENS_DATABASE_URL``).

* ``vocab_lists``: one row per list (``brands``, ``landmarks``) with its names added, names hidden and a
  ``revision`` counter raised by every change. A change locks the row (``SELECT ... FOR UPDATE``), applies the
  vocabulary's edit and writes it back in one transaction: two hosts adding at once lose nothing.
* ``vocab_examples``: example crops (PNG, ``bytea``) per list and key. A host materialises them into
  ``<cache_dir>/<key>/<sha256>.png`` (named by content, written once) for the image model.
* Readers compare the revision (one primary-key row) at most once every :data:`REFRESH_S` seconds and reload the
  list only when it changed; a change made by this process is seen at once.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagelens.errors import InvalidArgumentError
from imagelens.store.additions import AdditionsState, Edit
from imagelens.store.pgdb import Database, redact

if TYPE_CHECKING:
    import psycopg

#: Seconds between two revision checks of one list in one process (0: check on every read).
REFRESH_S = 1.0


class PostgresAdditions:
    """One list's additions in the ``vocab_lists`` / ``vocab_examples`` tables."""

    def __init__(self, db: Database, list_name: str, cache_dir: Path) -> None:
        self.db = db
        self.list_name = list_name
        self.cache_dir = cache_dir
        self.where = f"{redact(db.url)} ({list_name})"
        self._lock = threading.Lock()
        self._checked = -float("inf")
        self._revision = -1
        self._state = AdditionsState()
        self._examples: dict[str, tuple[Path, ...]] = {}

    # --- reads ----------------------------------------------------------------------------------------------------

    def revision(self) -> Hashable:
        """The list's revision, read from the database at most once every :data:`REFRESH_S` seconds."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked < REFRESH_S:
                return (self.list_name, self._revision)
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT revision FROM vocab_lists WHERE list = %s", (self.list_name,)
            ).fetchone()
        revision = int(row[0]) if row else 0
        with self._lock:
            self._checked = now
            if revision != self._revision:
                self._load()
        return (self.list_name, self._revision)

    def _load(self) -> None:
        """Read the whole list (under ``self._lock``): names, example crops (to files), revision."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT revision, added, removed FROM vocab_lists WHERE list = %s", (self.list_name,)
            ).fetchone()
            crops = conn.execute(
                "SELECT key, sha256 FROM vocab_examples WHERE list = %s ORDER BY key, number",
                (self.list_name,),
            ).fetchall()
            missing = [(k, s) for k, s in crops if not self._crop_path(k, s).is_file()]
            if missing:  # only crops this host has not written yet
                fetched = conn.execute(
                    "SELECT key, sha256, data FROM vocab_examples WHERE list = %s AND (key, sha256) IN "
                    "(SELECT * FROM unnest(%s::text[], %s::text[]))",
                    (self.list_name, [k for k, _ in missing], [s for _, s in missing]),
                )
                for key, sha, data in fetched:
                    self._write_crop(key, sha, bytes(data))
        examples: dict[str, list[Path]] = {}
        for key, sha in crops:
            examples.setdefault(key, []).append(self._crop_path(key, sha))
        self._examples = {k: tuple(v) for k, v in examples.items()}
        if row is None:
            self._revision, self._state = 0, AdditionsState(example_keys=frozenset(self._examples))
        else:
            self._revision = int(row[0])
            self._state = AdditionsState(tuple(row[1]), tuple(row[2]), frozenset(self._examples))

    def _crop_path(self, key: str, sha: str) -> Path:
        return self.cache_dir / key / f"{sha}.png"

    def _write_crop(self, key: str, sha: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != sha:
            raise InvalidArgumentError(f"the stored example crop {key}/{sha} is damaged")
        path = self._crop_path(key, sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def state(self) -> AdditionsState:
        self.revision()
        with self._lock:
            return self._state

    def examples(self) -> dict[str, tuple[Path, ...]]:
        self.revision()
        with self._lock:
            return dict(self._examples)

    # --- changes (one transaction each) ---------------------------------------------------------------------------

    def _locked_state(self, conn: psycopg.Connection[Any]) -> AdditionsState:
        """Create the list's row if needed and lock it; the current state."""
        execute = conn.execute
        execute("INSERT INTO vocab_lists (list) VALUES (%s) ON CONFLICT DO NOTHING", (self.list_name,))
        row = execute(
            "SELECT added, removed FROM vocab_lists WHERE list = %s FOR UPDATE", (self.list_name,)
        ).fetchone()
        keys = execute(
            "SELECT DISTINCT key FROM vocab_examples WHERE list = %s", (self.list_name,)
        ).fetchall()
        assert row is not None  # inserted above
        return AdditionsState(tuple(row[0]), tuple(row[1]), frozenset(k for (k,) in keys))

    def _bump(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("UPDATE vocab_lists SET revision = revision + 1 WHERE list = %s", (self.list_name,))

    def _invalidate(self) -> None:
        with self._lock:
            self._checked = -float("inf")

    def change(self, edit: Edit, *, drop_examples: str | None = None) -> AdditionsState:
        from psycopg.types.json import Jsonb

        with self.db.transaction() as conn:
            current = self._locked_state(conn)
            new = edit(current)
            if new is None:
                return current
            conn.execute(
                "UPDATE vocab_lists SET added = %s, removed = %s WHERE list = %s",
                (Jsonb(list(new.added)), Jsonb(list(new.removed)), self.list_name),
            )
            keys = set(current.example_keys)
            if drop_examples is not None:
                conn.execute(
                    "DELETE FROM vocab_examples WHERE list = %s AND key = %s", (self.list_name, drop_examples)
                )
                keys.discard(drop_examples)
            self._bump(conn)
        self._invalidate()
        return AdditionsState(new.added, new.removed, frozenset(keys))

    def add_example(self, key: str, png: bytes, limit: int) -> str:
        sha = hashlib.sha256(png).hexdigest()
        with self.db.transaction() as conn:
            self._locked_state(conn)
            row = conn.execute(
                "SELECT count(*), COALESCE(max(number), 0) FROM vocab_examples WHERE list = %s AND key = %s",
                (self.list_name, key),
            ).fetchone()
            count, last = (int(row[0]), int(row[1])) if row else (0, 0)
            if count >= limit:
                raise InvalidArgumentError(f"'{key}' already has {limit} example crops (the most)")
            conn.execute(
                "INSERT INTO vocab_examples (list, key, number, sha256, data) VALUES (%s, %s, %s, %s, %s)",
                (self.list_name, key, last + 1, sha, png),
            )
            self._bump(conn)
        self._invalidate()
        return f"{self.where}: {key}/{last + 1:03d} (sha256 {sha[:12]})"
