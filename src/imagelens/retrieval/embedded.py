"""The embedded retrieval index: SQLite (the source of truth) plus an HNSW graph (a cache of it), in one folder.

Layout: ``<root>/index.sqlite3`` holds every document (metadata and its float32 vector) and the index's model
(id, fingerprint, dimension); ``<root>/ann.bin`` + ``<root>/ann.meta.npz`` are the saved graph and what it covers.

Crash safety: a document is committed when its SQLite transaction commits (WAL, ``synchronous=FULL``). The graph
is rebuilt from SQLite or replayed forward on open: ids only grow (``AUTOINCREMENT``), deletes leave a tombstone
with its own sequence number, and the saved graph records the highest id and tombstone it has seen. A graph file
that is missing, torn or stale is ignored and rebuilt, so ``kill -9`` at any moment loses no committed document and
leaves the index loadable.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from imagelens.errors import InvalidArgumentError, NotFoundError
from imagelens.retrieval.ann import ExactIndex, HnswIndex, VectorIndex, hnsw_available
from imagelens.retrieval.base import (
    Document,
    EmbeddingModel,
    Filters,
    IndexStats,
    Vector,
    check_fields,
    check_index_name,
    check_vector,
)

DB_FILE = "index.sqlite3"
ANN_FILE = "ann.bin"
ANN_META = "ann.meta.npz"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL UNIQUE,
    uri TEXT, sha256 TEXT, size INTEGER, width INTEGER, height INTEGER, mtime REAL, taken TEXT,
    fields TEXT NOT NULL DEFAULT '{}',
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_sha256 ON docs (sha256);
CREATE INDEX IF NOT EXISTS docs_taken ON docs (taken);
CREATE TABLE IF NOT EXISTS tombstones (seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL);
"""
_COLUMNS = ("uri", "sha256", "size", "width", "height", "mtime", "taken")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EmbeddedIndex:
    """:class:`~imagelens.retrieval.base.RetrievalIndex` on SQLite + HNSW (numpy brute force without hnswlib).

    Thread-safe within a process; one writer process at a time (SQLite serialises writers; a second process sees
    the other's commits on its next open)."""

    def __init__(self, root: Path, name: str, model: EmbeddingModel, ann: VectorIndex) -> None:
        self.root = root
        self.name = name
        self.model = model
        self._ann = ann
        self._lock = threading.RLock()
        self._dirty = False

    # --- opening ---------------------------------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, name: str, model: EmbeddingModel, *, exist_ok: bool = False) -> EmbeddedIndex:
        check_index_name(name)
        if (root / DB_FILE).exists():
            if not exist_ok:
                from imagelens.errors import ConflictError

                raise ConflictError(f"The index '{name}' already exists.")
            index = cls.open(root, name)
            index.check_model(model)
            return index
        root.mkdir(parents=True, exist_ok=True)
        with _connect(root) as db:
            db.executescript(_SCHEMA)
            now = _now()
            rows = {
                "schema_version": str(SCHEMA_VERSION),
                "name": name,
                "model_id": model.model_id,
                "fingerprint": model.fingerprint,
                "dim": str(model.dim),
                "created": now,
                "updated": now,
            }
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows.items())
        return cls(root, name, model, _new_ann(model.dim, 1024))

    @classmethod
    def open(cls, root: Path, name: str | None = None) -> EmbeddedIndex:
        if not (root / DB_FILE).exists():
            raise NotFoundError(f"The index '{name or root.name}' does not exist.")
        with _connect(root) as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        model = EmbeddingModel(meta["model_id"], meta["fingerprint"], int(meta["dim"]))
        index = cls(root, meta.get("name", name or root.name), model, _new_ann(model.dim, 16))
        index._load_ann()
        return index

    def _load_ann(self) -> None:
        """Load the saved graph if it is intact, then replay what SQLite committed after it; else rebuild."""
        with _connect(self.root) as db:
            max_tomb = db.execute("SELECT COALESCE(MAX(seq), 0) FROM tombstones").fetchone()[0]
            count = db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
        saved = self._saved_ann()
        if saved is not None:
            ann, max_id, tomb_seq = saved
            with _connect(self.root) as db:
                dead = [r[0] for r in db.execute("SELECT id FROM tombstones WHERE seq > ?", (tomb_seq,))]
                ann.remove(dead)
                self._ann = ann
                self._add_rows(db.execute("SELECT id, vector FROM docs WHERE id > ? ORDER BY id", (max_id,)))
            if len(self._ann) == count:
                self._dirty = bool(dead) or max_tomb != tomb_seq
                return
        self._ann = _new_ann(self.model.dim, max(count, 16))
        with _connect(self.root) as db:
            self._add_rows(db.execute("SELECT id, vector FROM docs ORDER BY id"))
        self._dirty = True

    def _saved_ann(self) -> tuple[VectorIndex, int, int] | None:
        meta_path, ann_path = self.root / ANN_META, self.root / ANN_FILE
        if not meta_path.exists() or not ann_path.exists():
            return None
        try:
            with np.load(meta_path) as meta:
                ids = meta["ids"].astype(np.int64)
                max_id, tomb_seq, size = (int(x) for x in meta["marks"])
                kind = str(meta["kind"])
            if ann_path.stat().st_size != size:
                return None  # torn between the two renames: rebuild
            ann: VectorIndex
            if kind == "hnsw" and hnsw_available():
                ann = HnswIndex.load(ann_path, self.model.dim, ids.tolist())
            elif kind == "exact":
                ann = ExactIndex.load(ann_path, self.model.dim)
            else:
                return None
        except Exception:  # a damaged cache is never fatal: SQLite has everything
            return None
        return ann, max_id, tomb_seq

    def _add_rows(self, rows: Iterable[tuple[int, bytes]], batch: int = 4096) -> None:
        ids: list[int] = []
        vecs: list[bytes] = []
        for row_id, blob in rows:
            ids.append(row_id)
            vecs.append(blob)
            if len(ids) >= batch:
                self._ann_add(ids, vecs)
                ids, vecs = [], []
        if ids:
            self._ann_add(ids, vecs)

    def _ann_add(self, ids: list[int], blobs: list[bytes]) -> None:
        matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), self.model.dim)
        self._ann.add(np.asarray(ids, dtype=np.int64), matrix)

    # --- writing ---------------------------------------------------------------------------------------------

    def check_model(self, model: EmbeddingModel) -> None:
        self.model.check_same(model, self.name)

    def upsert(self, documents: Sequence[Document], model: EmbeddingModel | None = None) -> int:
        """Add or replace documents (by ``document_id``) in one transaction. ``model``: where the vectors come from
        (checked against the index's); ``None`` for raw vectors, which are only checked for their dimension."""
        if model is not None:
            self.check_model(model)
        rows = []
        for doc in documents:
            if not isinstance(doc.document_id, str) or not doc.document_id or len(doc.document_id) > 2048:
                raise InvalidArgumentError(
                    "A document id must be a non-empty string of at most 2048 characters."
                )
            vector = check_vector(doc.vector, self.model.dim, f"vector of document {doc.document_id!r}")
            fields = json.dumps(check_fields(doc.fields), sort_keys=True)
            meta = [getattr(doc, c) for c in _COLUMNS]
            rows.append((doc.document_id, *meta, fields, vector.tobytes()))
        if not rows:
            return 0
        with self._lock, _connect(self.root) as db:
            db.execute("BEGIN IMMEDIATE")
            old: list[int] = []
            for row in rows:
                hit = db.execute("SELECT id FROM docs WHERE document_id = ?", (row[0],)).fetchone()
                if hit is not None:
                    old.append(hit[0])
                    db.execute("DELETE FROM docs WHERE id = ?", (hit[0],))
                    db.execute("INSERT INTO tombstones (id) VALUES (?)", (hit[0],))
            new_ids = []
            for row in rows:
                cur = db.execute(
                    "INSERT INTO docs (document_id, uri, sha256, size, width, height, mtime, taken, fields, vector) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                new_ids.append(cur.lastrowid)
            db.execute("UPDATE meta SET value = ? WHERE key = 'updated'", (_now(),))
            db.execute("COMMIT")
            self._ann.remove(old)
            self._ann_add([int(i) for i in new_ids if i is not None], [r[-1] for r in rows])
            self._dirty = True
        return len(rows)

    def delete(self, document_ids: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(document_ids))
        with self._lock, _connect(self.root) as db:
            db.execute("BEGIN IMMEDIATE")
            gone: list[int] = []
            for doc_id in wanted:
                hit = db.execute("SELECT id FROM docs WHERE document_id = ?", (doc_id,)).fetchone()
                if hit is not None:
                    gone.append(hit[0])
                    db.execute("DELETE FROM docs WHERE id = ?", (hit[0],))
                    db.execute("INSERT INTO tombstones (id) VALUES (?)", (hit[0],))
            db.execute("UPDATE meta SET value = ? WHERE key = 'updated'", (_now(),))
            db.execute("COMMIT")
            self._ann.remove(gone)
            self._dirty = self._dirty or bool(gone)
        return len(gone)

    def flush(self) -> None:
        """Save the graph (atomically: a temporary file, then rename; its marks file last)."""
        with self._lock:
            if not self._dirty:
                return
            with _connect(self.root) as db:
                max_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM docs").fetchone()[0]
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM tombstones").fetchone()[0]
                ids = np.fromiter((r[0] for r in db.execute("SELECT id FROM docs")), dtype=np.int64)
            tmp = self.root / (ANN_FILE + ".tmp")
            self._ann.save(tmp)
            _fsync(tmp)
            tmp.replace(self.root / ANN_FILE)
            kind = getattr(self._ann, "kind", "exact")
            meta_tmp = self.root / (ANN_META + ".tmp")
            with open(meta_tmp, "wb") as fh:
                np.savez(
                    fh,
                    ids=ids,
                    marks=np.array([max_id, seq, (self.root / ANN_FILE).stat().st_size]),
                    kind=kind,
                )
            _fsync(meta_tmp)
            meta_tmp.replace(self.root / ANN_META)
            self._dirty = False

    def close(self) -> None:
        self.flush()

    # --- reading ---------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ann)

    def get(self, document_id: str) -> Document | None:
        with _connect(self.root) as db:
            row = db.execute(
                "SELECT document_id, vector, uri, sha256, size, width, height, mtime, taken, fields FROM docs "
                "WHERE document_id = ?",
                (document_id,),
            ).fetchone()
        if row is None:
            return None
        return _document(row)

    def sha256_of(self, document_ids: Sequence[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        with _connect(self.root) as db:
            for doc_id in document_ids:
                row = db.execute("SELECT sha256 FROM docs WHERE document_id = ?", (doc_id,)).fetchone()
                if row is not None:
                    out[doc_id] = row[0]
        return out

    def document_ids(self) -> list[str]:
        with _connect(self.root) as db:
            return [r[0] for r in db.execute("SELECT document_id FROM docs ORDER BY id")]

    def documents(self) -> Iterator[Document]:
        with _connect(self.root) as db:
            rows = db.execute(
                "SELECT document_id, vector, uri, sha256, size, width, height, mtime, taken, fields FROM docs "
                "ORDER BY id"
            ).fetchall()
        for row in rows:
            yield _document(row)

    def _allowed(self, filters: Filters) -> set[int]:
        where, args = _where(filters)
        with _connect(self.root) as db:
            return {r[0] for r in db.execute(f"SELECT id FROM docs WHERE {where}", args)}  # noqa: S608

    def search(
        self, vector: Vector, top: int = 10, skip: int = 0, filters: Filters | None = None
    ) -> list[tuple[str, float, dict[str, Any]]]:
        """``(document_id, cosine, metadata)`` best first, ``skip`` results skipped."""
        query = check_vector(vector, self.model.dim, "query vector")
        allowed = self._allowed(filters) if filters else None
        if allowed is not None and not allowed:
            return []
        with self._lock:
            ids, sims = self._ann.search(query, top + skip, None if allowed is None else allowed.__contains__)
        ids, sims = ids[skip:], sims[skip:]
        if not len(ids):
            return []
        by_id: dict[int, tuple[Any, ...]] = {}
        with _connect(self.root) as db:
            marks = ",".join("?" * len(ids))
            sql = f"SELECT id, document_id, uri, sha256, size, width, height, mtime, taken, fields FROM docs WHERE id IN ({marks})"  # noqa: S608, E501
            for row in db.execute(sql, [int(i) for i in ids]):
                by_id[row[0]] = row[1:]
        out = []
        for i, s in zip(ids.tolist(), sims.tolist(), strict=True):
            row = by_id.get(int(i))
            if row is None:
                continue
            meta = dict(zip(_COLUMNS, row[1:8], strict=True))
            meta["fields"] = json.loads(row[8])
            out.append((row[0], float(s), meta))
        return out

    def stats(self) -> IndexStats:
        with _connect(self.root) as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            count = db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
        size = sum(p.stat().st_size for p in self.root.iterdir() if p.is_file())
        return IndexStats(
            name=self.name,
            model=self.model,
            documents=count,
            ann=getattr(self._ann, "kind", "exact"),
            path=str(self.root),
            bytes_on_disk=size,
            created=meta.get("created", ""),
            updated=meta.get("updated", ""),
        )


def _document(row: Sequence[Any]) -> Document:
    """A ``docs`` row (document_id, vector, uri, sha256, size, width, height, mtime, taken, fields)."""
    meta = dict(zip(_COLUMNS, row[2:9], strict=True))
    vector = np.frombuffer(row[1], dtype=np.float32).copy()
    return Document(row[0], vector, fields=json.loads(row[9]), **meta)


def _new_ann(dim: int, capacity: int) -> VectorIndex:
    return HnswIndex(dim, capacity) if hnsw_available() else ExactIndex(dim)


def _where(filters: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = ["1"]
    args: list[Any] = []
    for key, value in filters.equals.items():
        column = key if key in _COLUMNS else None
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        if column is None:
            check_fields({key: None})
            column_sql = "json_extract(fields, ?)"
            prefix: list[Any] = [f'$."{key}"']
        else:
            column_sql, prefix = column, []
        ors = []
        for v in values:
            ors.append(f"{column_sql} = ?")
            args.extend([*prefix, v])
        clauses.append("(" + " OR ".join(ors) + ")")
    if filters.taken_from:
        clauses.append("taken >= ?")
        args.append(filters.taken_from)
    if filters.taken_to:
        clauses.append("taken <= ?")
        args.append(filters.taken_to + ("T99" if "T" not in filters.taken_to else ""))
    if filters.prefix:
        clauses.append("(substr(document_id, 1, ?) = ? OR substr(uri, 1, ?) = ?)")
        n = len(filters.prefix)
        args.extend([n, filters.prefix, n, filters.prefix])
    return " AND ".join(clauses), args


@contextmanager
def _connect(root: Path, timeout_s: float = 30.0) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(root / DB_FILE, timeout=timeout_s, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        fh.flush()
        import os

        os.fsync(fh.fileno())
