"""The retrieval index on PostgreSQL + pgvector (``IMAGELENS_DATABASE_URL``): every replica searches the same index.

Each index is a row of ``retrieval_indexes`` (name, model id, weights fingerprint, dimension) and a table
``retrieval_ix_<id>`` with one row per document: the metadata columns of the embedded index, user fields as JSONB,
and the vector as ``vector(dim)`` under an HNSW index (``vector_cosine_ops``, m=16, ef_construction=128, the
embedded index's parameters). Search orders by cosine distance with ``hnsw.ef_search = max(128, 2 * (top+skip))``;
metadata filters are SQL ``WHERE`` clauses, searched with pgvector's iterative scan (``strict_order``) so a
selective filter still fills the page. Writes are single transactions; there is no cache to flush.

Needs the ``vector`` extension in the database (``CREATE EXTENSION vector``: pgvector >= 0.8).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np

from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
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
from imagelens.retrieval.embedded import EmbeddedIndex
from imagelens.store.pgdb import Database

_COLUMNS = ("uri", "sha256", "size", "width", "height", "mtime", "taken")
_NUMERIC = {"size", "width", "height", "mtime"}
_SELECT = "document_id, uri, sha256, size, width, height, mtime, taken, fields::text"
M, EF_CONSTRUCTION, EF_SEARCH = 16, 128, 128
KIND = "pgvector-hnsw"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_registered: weakref.WeakSet[Any] = weakref.WeakSet()  # connections that know the vector type (binary I/O)


@contextmanager
def _transaction(db: Database) -> Iterator[Any]:
    """``db.transaction()`` on a connection that sends and reads vectors as numpy arrays in pgvector's binary
    form (the type is looked up once per pooled connection: its OID differs between databases)."""
    with db.transaction() as conn:
        if conn not in _registered:
            from pgvector.psycopg.vector import register_vector_info
            from psycopg.types import TypeInfo

            info = TypeInfo.fetch(conn, "vector")
            if info is None:
                raise InvalidArgumentError("The database has no pgvector 'vector' type.")
            register_vector_info(conn, info)
            _registered.add(conn)
        yield conn


def ensure_extension(db: Database) -> None:
    try:
        with db.transaction() as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except Exception as exc:
        if getattr(exc, "status", None) == 503:
            raise
        raise InvalidArgumentError(
            "The database has no pgvector: install the 'vector' extension (pgvector >= 0.8) and run "
            f"CREATE EXTENSION vector as a privileged user ({type(exc).__name__}: {exc})."
        ) from None


def _create_table(conn: Any, table: str, dim: int) -> None:
    conn.execute(
        f"CREATE TABLE {table} (id bigserial PRIMARY KEY, document_id text NOT NULL UNIQUE, "
        "uri text, sha256 text, size bigint, width integer, height integer, mtime double precision, "
        f"taken text, fields jsonb NOT NULL DEFAULT '{{}}', embedding vector({int(dim)}) NOT NULL)"
    )
    conn.execute(
        f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops) "
        f"WITH (m = {M}, ef_construction = {EF_CONSTRUCTION})"
    )
    conn.execute(f"CREATE INDEX {table}_sha256 ON {table} (sha256)")
    conn.execute(f"CREATE INDEX {table}_taken ON {table} (taken)")


#: Every name a document table owns (index, constraint and sequence names carry the table's name).
_OWNED = ("_hnsw", "_sha256", "_taken", "_pkey", "_document_id_key")


def list_indexes(db: Database) -> list[str]:
    with db.transaction() as conn:
        return [
            r[0]
            for r in conn.execute(  # not the segment indexes of video indexes (imagelens.video.pg_store)
                "SELECT name FROM retrieval_indexes WHERE name NOT IN (SELECT segments_index FROM video_indexes) "
                "ORDER BY name"
            )
        ]


def drop_index(db: Database, name: str) -> None:
    with db.transaction() as conn:
        row = conn.execute("DELETE FROM retrieval_indexes WHERE name = %s RETURNING id", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"The index '{name}' does not exist.")
        conn.execute(f"DROP TABLE IF EXISTS retrieval_ix_{int(row[0])}")


class PgVectorIndex:
    """:class:`~imagelens.retrieval.base.RetrievalIndex` on PostgreSQL + pgvector (the same methods as
    :class:`~imagelens.retrieval.embedded.EmbeddedIndex`)."""

    def __init__(
        self, db: Database, name: str, model: EmbeddingModel, table_id: int, *, rebuilding: bool = False
    ) -> None:
        self.db = db
        self.name = name
        self.model = model
        self.table_id = int(table_id)
        #: A rebuild's table (:meth:`start_rebuild`): written for the new model, not yet what ``name`` searches.
        self.rebuilding = rebuilding
        self.table = f"retrieval_ix_{self.table_id}" + ("_rebuild" if rebuilding else "")

    # --- opening ---------------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, db: Database, name: str, model: EmbeddingModel, *, exist_ok: bool = False
    ) -> PgVectorIndex:
        check_index_name(name)
        if not 1 <= model.dim <= 2000:
            raise InvalidArgumentError(f"pgvector's HNSW index takes 1 to 2000 dimensions, not {model.dim}.")
        ensure_extension(db)
        now = _now()
        with db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO retrieval_indexes (name, model_id, fingerprint, dim, created, updated) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING id",
                (name, model.model_id, model.fingerprint, model.dim, now, now),
            ).fetchone()
            if row is not None:
                _create_table(conn, f"retrieval_ix_{int(row[0])}", model.dim)
                return cls(db, name, model, int(row[0]))
        if not exist_ok:
            raise ConflictError(f"The index '{name}' already exists.")
        index = cls.open(db, name)
        index.check_model(model)
        return index

    @classmethod
    def open(cls, db: Database, name: str) -> PgVectorIndex:
        with db.transaction() as conn:
            row = conn.execute(
                "SELECT id, model_id, fingerprint, dim FROM retrieval_indexes WHERE name = %s", (name,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"The index '{name}' does not exist.")
        return cls(db, name, EmbeddingModel(row[1], row[2], int(row[3])), int(row[0]))

    # --- writing ---------------------------------------------------------------------------------------------

    def check_model(self, model: EmbeddingModel) -> None:
        self.model.check_same(model, self.name)

    def upsert(self, documents: Sequence[Document], model: EmbeddingModel | None = None) -> int:
        """Add or replace documents (by ``document_id``) in one transaction; ``model`` as in the embedded index."""
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
            rows.append((doc.document_id, *(getattr(doc, c) for c in _COLUMNS), fields, vector))
        if not rows:
            return 0
        sql = (
            f"INSERT INTO {self.table} (document_id, uri, sha256, size, width, height, mtime, taken, fields, "
            "embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %b) ON CONFLICT (document_id) "
            "DO UPDATE SET uri = EXCLUDED.uri, sha256 = EXCLUDED.sha256, size = EXCLUDED.size, "
            "width = EXCLUDED.width, height = EXCLUDED.height, mtime = EXCLUDED.mtime, taken = EXCLUDED.taken, "
            "fields = EXCLUDED.fields, embedding = EXCLUDED.embedding"
        )
        with _transaction(self.db) as conn:
            if (
                not self.rebuilding
            ):  # a rebuild's swap (FOR UPDATE) waits for this write, or this sees the swap;
                # KEY SHARE: writers do not block each other, nor the NO KEY UPDATE of _touch
                fp = conn.execute(
                    "SELECT fingerprint FROM retrieval_indexes WHERE id = %s FOR KEY SHARE", (self.table_id,)
                ).fetchone()
                self._check_not_swapped(None if fp is None else fp[0])
            with conn.cursor() as cur:
                cur.executemany(sql, rows)
            self._touch(conn)
        return len(rows)

    def _check_not_swapped(self, fingerprint: str | None) -> None:
        """A rebuild swapped other vectors in since this object was opened: take its model, and refuse this call
        (its vectors were made with the old model; the caller's retry uses the new one)."""
        if fingerprint is None:
            raise NotFoundError(f"The index '{self.name}' does not exist.")
        if fingerprint == self.model.fingerprint:
            return
        old = self.model
        self.model = PgVectorIndex.open(self.db, self.name).model
        raise ConflictError(
            f"The index '{self.name}' was rebuilt with {self.model.model_id} (weights {self.model.fingerprint[:12]}) "
            f"since it was opened with {old.model_id} (weights {old.fingerprint[:12]}): try again."
        )

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """For a large first load: drop the HNSW index, let the caller ``upsert``, then build the index once
        (``CREATE INDEX`` builds in memory, with parallel workers; many times faster than growing the graph one row
        at a time). Searches meanwhile are exact scans; the index is rebuilt even when the block raises."""
        with self.db.transaction() as conn:
            conn.execute(f"DROP INDEX IF EXISTS {self.table}_hnsw")
        try:
            yield
        finally:
            with self.db.transaction() as conn:
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {self.table}_hnsw ON {self.table} USING hnsw "
                    f"(embedding vector_cosine_ops) WITH (m = {M}, ef_construction = {EF_CONSTRUCTION})"
                )

    def _touch(self, conn: Any) -> None:
        if self.rebuilding:
            return
        conn.execute("UPDATE retrieval_indexes SET updated = %s WHERE name = %s", (_now(), self.name))

    def delete(self, document_ids: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(document_ids))
        if not wanted:
            return 0
        with self.db.transaction() as conn:
            cur = conn.execute(f"DELETE FROM {self.table} WHERE document_id = ANY(%s)", (wanted,))  # noqa: S608
            self._touch(conn)
            return int(cur.rowcount)

    def flush(self) -> None:
        """Nothing to do: every write is committed when it returns."""

    def close(self) -> None:
        """Nothing to release: the pool belongs to the database."""

    # --- reading ---------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()  # noqa: S608
        return int(row[0]) if row else 0

    def get(self, document_id: str) -> Document | None:
        with _transaction(self.db) as conn:
            row = conn.execute(
                f"SELECT {_SELECT}, embedding FROM {self.table} WHERE document_id = %s",  # noqa: S608
                (document_id,),
            ).fetchone()
        return None if row is None else _document(row)

    def sha256_of(self, document_ids: Sequence[str]) -> dict[str, str | None]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT document_id, sha256 FROM {self.table} WHERE document_id = ANY(%s)",  # noqa: S608
                (list(document_ids),),
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def document_ids(self) -> list[str]:
        with self.db.transaction() as conn:
            return [r[0] for r in conn.execute(f"SELECT document_id FROM {self.table} ORDER BY id")]  # noqa: S608

    def documents(self) -> Iterator[Document]:
        with _transaction(self.db) as conn:
            rows = conn.execute(
                f"SELECT {_SELECT}, embedding FROM {self.table} ORDER BY id"  # noqa: S608
            ).fetchall()
        for row in rows:
            yield _document(row)

    def search(
        self, vector: Vector, top: int = 10, skip: int = 0, filters: Filters | None = None
    ) -> list[tuple[str, float, dict[str, Any]]]:
        """``(document_id, cosine, metadata)`` best first, ``skip`` results skipped."""
        query = check_vector(vector, self.model.dim, "query vector")
        where, args = _where(filters) if filters else ("TRUE", [])
        ef = min(1000, max(EF_SEARCH, 2 * (top + skip)))
        scan = "strict_order" if filters else "off"
        try:
            with _transaction(self.db) as conn:
                conn.execute(
                    "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true)",
                    (str(ef), scan),
                )
                # the model's fingerprint comes from the same statement: one snapshot, taken after the table lock
                rows = conn.execute(
                    f"SELECT {_SELECT}, 1 - (embedding <=> %b), (SELECT fingerprint FROM retrieval_indexes "  # noqa: S608
                    f"WHERE id = {self.table_id}) FROM {self.table} WHERE {where} "
                    "ORDER BY embedding <=> %b LIMIT %s OFFSET %s",
                    (query, *args, query, top, skip),
                ).fetchall()
        except Exception as exc:  # "different vector dimensions": a rebuild swapped in another dimension
            if "dimensions" not in str(exc) or self.rebuilding:
                raise
            self._check_not_swapped(PgVectorIndex.open(self.db, self.name).model.fingerprint)
            raise
        if rows and not self.rebuilding:
            self._check_not_swapped(rows[0][10])
        out = []
        for row in rows:
            meta = dict(zip(_COLUMNS, row[1:8], strict=True))
            meta["fields"] = json.loads(row[8])
            out.append((row[0], float(row[9]), meta))
        return out

    # --- rebuilding with another model -------------------------------------------------------------------------

    def sources(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        """``(document_id, uri, fields)`` of every document, without the vectors (what a rebuild re-embeds)."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT document_id, uri, fields::text FROM {self.table} ORDER BY id"
            ).fetchall()  # noqa: S608
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def start_rebuild(self, model: EmbeddingModel) -> PgVectorIndex:
        """An empty table for ``model`` beside this index's (a failed rebuild's leftover is dropped first).
        Searches and writes keep going to the current table until :meth:`finish_rebuild`."""
        if not 1 <= model.dim <= 2000:
            raise InvalidArgumentError(f"pgvector's HNSW index takes 1 to 2000 dimensions, not {model.dim}.")
        fresh = PgVectorIndex(self.db, self.name, model, self.table_id, rebuilding=True)
        with self.db.transaction() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {fresh.table}")
            _create_table(conn, fresh.table, model.dim)
        return fresh

    def abort_rebuild(self, fresh: PgVectorIndex) -> None:
        """Drop a rebuild's table; the index is left as it was."""
        if not fresh.rebuilding or fresh.table_id != self.table_id:
            raise InvalidArgumentError("Not a rebuild of this index.")
        with self.db.transaction() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {fresh.table}")

    def finish_rebuild(self, fresh: PgVectorIndex) -> PgVectorIndex:
        """Swap the rebuilt table in, in ONE transaction: the model record first (``FOR UPDATE`` waits for writes in
        flight, see :meth:`upsert`), then the old table dropped (its lock waits for searches in flight) and the new
        one renamed to the index's table. A search or write after the commit sees the new model, and an object
        opened before refuses once (:class:`ConflictError`) and takes the new model."""
        if not fresh.rebuilding or fresh.table_id != self.table_id:
            raise InvalidArgumentError("Not a rebuild of this index.")
        model = fresh.model
        with self.db.transaction() as conn:
            conn.execute("SELECT id FROM retrieval_indexes WHERE id = %s FOR UPDATE", (self.table_id,))
            row = conn.execute(
                "UPDATE retrieval_indexes SET model_id = %s, fingerprint = %s, dim = %s, updated = %s "
                "WHERE id = %s RETURNING id",
                (model.model_id, model.fingerprint, model.dim, _now(), self.table_id),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"The index '{self.name}' was dropped during its rebuild.")
            conn.execute(f"DROP TABLE {self.table}")
            conn.execute(f"ALTER TABLE {fresh.table} RENAME TO {self.table}")
            for suffix in _OWNED:
                conn.execute(f"ALTER INDEX IF EXISTS {fresh.table}{suffix} RENAME TO {self.table}{suffix}")
            conn.execute(f"ALTER SEQUENCE IF EXISTS {fresh.table}_id_seq RENAME TO {self.table}_id_seq")
        self.model = model
        return PgVectorIndex(self.db, self.name, model, self.table_id)

    def stats(self) -> IndexStats:
        with self.db.transaction() as conn:
            row = conn.execute(
                f"SELECT (SELECT COUNT(*) FROM {self.table}), pg_total_relation_size('{self.table}'), "  # noqa: S608
                "created, updated FROM retrieval_indexes WHERE name = %s",
                (self.name,),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"The index '{self.name}' does not exist.")
        return IndexStats(
            name=self.name,
            model=self.model,
            documents=int(row[0]),
            ann=KIND,
            path=None,
            bytes_on_disk=int(row[1]),
            created=row[2],
            updated=row[3],
        )


#: What :func:`imagelens.retrieval.search.open_index` returns: the embedded index, or pgvector's.
AnyIndex = EmbeddedIndex | PgVectorIndex


def _document(row: Sequence[Any]) -> Document:
    """``_SELECT`` columns, then the vector."""
    meta = dict(zip(_COLUMNS, row[1:8], strict=True))
    return Document(
        row[0], np.asarray(row[9].to_numpy(), dtype=np.float32), fields=json.loads(row[8]), **meta
    )


def _where(filters: Filters) -> tuple[str, list[Any]]:
    """The embedded index's filters as SQL: ``equals`` (any of the values), the EXIF date range, the prefix."""
    clauses: list[str] = ["TRUE"]
    args: list[Any] = []
    for key, value in filters.equals.items():
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        ors = []
        for v in values:
            if key in _COLUMNS:
                if v is None or (key in _NUMERIC and (isinstance(v, bool) or not isinstance(v, int | float))):
                    ors.append("FALSE")  # SQL NULL equals nothing; a number column equals no string
                    continue
                ors.append(f"{key} = %s")
                args.append(v)
            else:
                check_fields({key: None})
                if v is None:
                    ors.append("FALSE")
                    continue
                ors.append("fields -> %s = %s::jsonb")
                args.extend([key, json.dumps(v)])
        clauses.append("(" + (" OR ".join(ors) or "FALSE") + ")")
    if filters.taken_from:
        clauses.append("taken >= %s")
        args.append(filters.taken_from)
    if filters.taken_to:
        clauses.append("taken <= %s")
        args.append(filters.taken_to + ("T99" if "T" not in filters.taken_to else ""))
    if filters.prefix:
        clauses.append("(starts_with(document_id, %s) OR starts_with(COALESCE(uri, ''), %s))")
        args.extend([filters.prefix, filters.prefix])
    return " AND ".join(clauses), args
