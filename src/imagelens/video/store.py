"""Where video indexes live, and the default (SQLite) backend of :class:`~imagelens.video.store_base.VideoIndex`.

With ``IMAGELENS_DATABASE_URL`` set, every video index lives in PostgreSQL (rows) + pgvector (segment vectors):
:mod:`~imagelens.video.pg_store`; the functions here (:func:`create_video_index`, :func:`open_video_index`,
:func:`list_video_indexes`, :func:`drop_video_index`, :func:`video_index_exists`) choose the backend.

SQLite layout: ``<store_dir>/video/<name>/`` holds the retrieval index of the segments
(:class:`~imagelens.retrieval.embedded.EmbeddedIndex`: ``index.sqlite3`` + the HNSW cache) and ``video.sqlite3``:
the index's Azure description, one row per video document, one per ingestion (its request, state and lease, so an
interrupted one resumes on restart), and the checkpoints and pending segments of videos being ingested.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from imagelens.config import Settings
from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
from imagelens.retrieval.base import EmbeddingModel, check_index_name
from imagelens.retrieval.embedded import EmbeddedIndex
from imagelens.store.sqlite_tx import connect, immediate
from imagelens.video.segments import Segment
from imagelens.video.store_base import (
    FEATURE_KINDS,
    FEATURES,
    ING_KEYS,
    KIND_FRAME,
    SegmentRow,
    VideoIndex,
    VideoRecord,
    check_features,
    lease_alive,
    now,
    segment_blob,
    segment_of,
)

__all__ = [
    "FEATURES",
    "FEATURE_KINDS",
    "KIND_FRAME",
    "SQLiteVideoIndex",
    "SegmentRow",
    "VideoIndex",
    "VideoRecord",
    "check_features",
    "create_video_index",
    "drop_video_index",
    "list_video_indexes",
    "now",
    "open_video_index",
    "video_index_exists",
]

VIDEO_DB = "video.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS videos (
    document_id TEXT PRIMARY KEY, url TEXT, metadata TEXT NOT NULL DEFAULT '{}', user_data TEXT,
    duration REAL, segments INTEGER NOT NULL, warnings TEXT NOT NULL DEFAULT '[]', created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ingestions (
    name TEXT PRIMARY KEY, state TEXT NOT NULL, request TEXT NOT NULL, details TEXT NOT NULL DEFAULT '[]',
    error TEXT, created TEXT NOT NULL, updated TEXT NOT NULL, owner TEXT, heartbeat REAL, progress TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (document_id TEXT PRIMARY KEY, state TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    document_id TEXT NOT NULL, n INTEGER NOT NULL, start REAL NOT NULL, end_s REAL NOT NULL, best REAL NOT NULL,
    samples INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (document_id, n)
);
"""
_VIDEO_COLS = "document_id, url, metadata, user_data, duration, segments, warnings, created, updated"
_ING_COLS = ", ".join(ING_KEYS)


def _upgrade(con: sqlite3.Connection) -> None:
    """Tables and columns an index written by an earlier version lacks (checkpoints, the ingestion lease)."""
    con.executescript(_SCHEMA)
    cols = {r[1] for r in con.execute("PRAGMA table_info(ingestions)")}
    if "owner" not in cols:
        con.execute("ALTER TABLE ingestions ADD COLUMN owner TEXT")
        con.execute("ALTER TABLE ingestions ADD COLUMN heartbeat REAL")
        con.execute("ALTER TABLE ingestions ADD COLUMN progress TEXT")


class SQLiteVideoIndex(VideoIndex):
    def __init__(self, root: Path, name: str, segments: EmbeddedIndex) -> None:
        super().__init__(name, segments)
        self.root = root
        with self.db() as con:
            _upgrade(con)

    @contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        with connect(self.root / VIDEO_DB) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            yield con

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db() as con, immediate(con):
            yield con

    # --- the index's description and its videos ------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        with self.db() as con:
            raw = dict(con.execute("SELECT key, value FROM info").fetchall())
            count = con.execute("SELECT COUNT(*) FROM videos").fetchone()[0]
        out: dict[str, Any] = {k: json.loads(v) for k, v in raw.items()}
        out["documents"] = count
        return out

    def update(self, metadata_schema: Any = None, user_data: Any = None) -> dict[str, Any]:
        with self._lock, self._transaction() as con:
            if metadata_schema is not None:
                con.execute(
                    "UPDATE info SET value = ? WHERE key = 'metadataSchema'", (json.dumps(metadata_schema),)
                )
            if user_data is not None:
                con.execute("UPDATE info SET value = ? WHERE key = 'userData'", (json.dumps(user_data),))
            con.execute("UPDATE info SET value = ? WHERE key = 'updated'", (json.dumps(now()),))
        return self.info()

    def _write_video(self, record: VideoRecord) -> None:
        with self.db() as con:
            con.execute(
                f"INSERT OR REPLACE INTO videos ({_VIDEO_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, COALESCE((SELECT "
                "created FROM videos WHERE document_id = ?), ?), ?)",
                (
                    record.document_id, record.url, json.dumps(dict(record.metadata)), json.dumps(record.user_data),
                    record.duration_s, record.segments, json.dumps(list(record.warnings)), record.document_id,
                    record.created, record.updated,
                ),
            )  # fmt: skip

    def _delete_video_row(self, document_id: str) -> bool:
        with self.db() as con:
            return con.execute("DELETE FROM videos WHERE document_id = ?", (document_id,)).rowcount > 0

    def video(self, document_id: str) -> VideoRecord | None:
        with self.db() as con:
            row = con.execute(
                f"SELECT {_VIDEO_COLS} FROM videos WHERE document_id = ?", (document_id,)
            ).fetchone()
        return None if row is None else _record(row)

    def videos(self, top: int = 1000, skip: int = 0) -> list[VideoRecord]:
        with self.db() as con:
            rows = con.execute(
                f"SELECT {_VIDEO_COLS} FROM videos ORDER BY created, document_id LIMIT ? OFFSET ?",
                (top, skip),
            ).fetchall()
        return [_record(r) for r in rows]

    # --- ingestions ----------------------------------------------------------------------------------------------

    def save_ingestion(
        self, name: str, state: str, request: Any, details: Any = (), error: str | None = None
    ) -> None:
        stamp = now()
        with self._lock, self.db() as con:
            con.execute(
                "INSERT INTO ingestions (name, state, request, details, error, created, updated) VALUES "
                "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET state = excluded.state, request = "
                "excluded.request, details = excluded.details, error = excluded.error, updated = excluded.updated, "
                "progress = CASE WHEN excluded.state = 'Running' THEN progress END",
                (name, state, json.dumps(request), json.dumps(list(details)), error, stamp, stamp),
            )

    def ingestion(self, name: str) -> dict[str, Any] | None:
        with self.db() as con:
            row = con.execute(f"SELECT {_ING_COLS} FROM ingestions WHERE name = ?", (name,)).fetchone()
        return None if row is None else _ingestion(row)

    def ingestions(self) -> list[dict[str, Any]]:
        with self.db() as con:
            rows = con.execute(f"SELECT {_ING_COLS} FROM ingestions ORDER BY created, name").fetchall()
        return [_ingestion(r) for r in rows]

    def claim_ingestion(self, name: str, owner: str, stale_after_s: float) -> dict[str, Any] | None:
        with self._transaction() as con:
            row = con.execute(f"SELECT {_ING_COLS} FROM ingestions WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            job = _ingestion(row)
            if job["state"] not in ("NotStarted", "Running"):
                return None
            if job["owner"] not in (None, owner) and lease_alive(
                job["owner"], job["heartbeat"], owner, stale_after_s
            ):
                return None
            con.execute(
                "UPDATE ingestions SET owner = ?, heartbeat = ? WHERE name = ?", (owner, time.time(), name)
            )
        job.update(owner=owner)
        return job

    def renew_ingestion(self, name: str, owner: str, progress: Mapping[str, Any] | None = None) -> bool:
        with self.db() as con:
            cur = con.execute(
                "UPDATE ingestions SET heartbeat = ?, progress = COALESCE(?, progress) WHERE name = ? AND owner = ?",
                (time.time(), None if progress is None else json.dumps(dict(progress)), name, owner),
            )
            return cur.rowcount > 0

    def release_ingestion(self, name: str, owner: str) -> None:
        with self.db() as con:
            con.execute(
                "UPDATE ingestions SET owner = NULL, heartbeat = NULL WHERE name = ? AND owner = ?",
                (name, owner),
            )

    # --- checkpoints ---------------------------------------------------------------------------------------------

    def checkpoint(self, document_id: str) -> dict[str, Any] | None:
        with self.db() as con:
            row = con.execute(
                "SELECT state FROM checkpoints WHERE document_id = ?", (document_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def save_checkpoint(
        self, document_id: str, state: Mapping[str, Any], segments: Sequence[Segment]
    ) -> None:
        first = int(state["next"]) - len(segments)
        with self._transaction() as con:
            con.executemany(
                "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (document_id, first + k, s.start_s, s.end_s, s.best_s, s.samples, segment_blob(s))
                    for k, s in enumerate(segments)
                ],
            )
            con.execute(
                "DELETE FROM pending WHERE document_id = ? AND n >= ?", (document_id, int(state["next"]))
            )
            con.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
                (document_id, json.dumps(dict(state)), now()),
            )

    def pending_segments(self, document_id: str, batch: int = 512) -> Iterator[list[Segment]]:
        n = 0
        while True:
            with self.db() as con:
                rows = con.execute(
                    "SELECT start, end_s, best, samples, vector FROM pending WHERE document_id = ? AND n >= ? "
                    "ORDER BY n LIMIT ?",
                    (document_id, n, batch),
                ).fetchall()
            if not rows:
                return
            yield [segment_of(*r) for r in rows]
            n += len(rows)

    def clear_checkpoint(self, document_id: str) -> None:
        with self._transaction() as con:
            con.execute("DELETE FROM pending WHERE document_id = ?", (document_id,))
            con.execute("DELETE FROM checkpoints WHERE document_id = ?", (document_id,))


def _record(row: Sequence[Any]) -> VideoRecord:
    return VideoRecord(
        row[0], row[1], json.loads(row[2]), json.loads(row[3]) if row[3] else None, row[4], int(row[5]),
        tuple(json.loads(row[6])), row[7], row[8],
    )  # fmt: skip


def _ingestion(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(ING_KEYS, row, strict=True))
    out["request"] = json.loads(out["request"])
    out["details"] = json.loads(out["details"])
    out["progress"] = json.loads(out["progress"]) if out["progress"] else None
    return out


# --- where video indexes live (and which backend) ------------------------------------------------------------------


def videos_root(settings: Settings) -> Path:
    from imagelens.store import default_store_dir

    base = settings.store_dir if settings.store_dir is not None else default_store_dir()
    return Path(base) / "video"


def video_index_path(settings: Settings, name: str) -> Path:
    return videos_root(settings) / check_index_name(name)


def video_index_exists(settings: Settings, name: str) -> bool:
    try:
        check_index_name(name)
    except InvalidArgumentError:
        return False
    if (db := _database(settings)) is not None:
        from imagelens.video import pg_store

        return pg_store.exists(db, name)
    return (video_index_path(settings, name) / VIDEO_DB).exists()


def list_video_indexes(settings: Settings) -> list[str]:
    if (db := _database(settings)) is not None:
        from imagelens.video import pg_store

        return pg_store.list_names(db)
    root = videos_root(settings)
    return sorted(p.name for p in root.iterdir() if (p / VIDEO_DB).exists()) if root.exists() else []


def _database(settings: Settings) -> Any:
    """PostgreSQL when ``IMAGELENS_DATABASE_URL`` is set: the same chooser as the retrieval indexes."""
    from imagelens.retrieval.search import _database as chooser

    return chooser(settings)


def new_info(
    checked: list[dict[str, Any]], model: EmbeddingModel, metadata_schema: Any, user_data: Any
) -> dict[str, Any]:
    stamp = now()
    return {
        "features": [dict(f, modelVersion=model.model_id) for f in checked],
        "metadataSchema": metadata_schema
        if metadata_schema is not None
        else {"language": "en", "fields": []},
        "userData": user_data if user_data is not None else {},
        "created": stamp,
        "updated": stamp,
    }


def create_video_index(
    settings: Settings,
    name: str,
    model: EmbeddingModel,
    features: Any = None,
    metadata_schema: Any = None,
    user_data: Any = None,
    *,
    exist_ok: bool = False,
) -> VideoIndex:
    checked = check_features(features)
    check_index_name(name)
    if (db := _database(settings)) is not None:
        from imagelens.video import pg_store

        info = new_info(checked, model, metadata_schema, user_data)
        return pg_store.PostgresVideoIndex.create(db, name, model, info, exist_ok=exist_ok)
    root = video_index_path(settings, name)
    if (root / VIDEO_DB).exists():
        if not exist_ok:
            raise ConflictError(f"The video index '{name}' already exists.")
        index = open_video_index(settings, name)
        index.segments.check_model(model)
        return index
    segments = EmbeddedIndex.create(root, name, model, exist_ok=True)
    info = new_info(checked, model, metadata_schema, user_data)
    con = sqlite3.connect(root / VIDEO_DB, isolation_level=None)
    try:
        con.executescript(_SCHEMA)
        con.executemany(
            "INSERT OR REPLACE INTO info VALUES (?, ?)", [(k, json.dumps(v)) for k, v in info.items()]
        )
    finally:
        con.close()
    return SQLiteVideoIndex(root, name, segments)


def open_video_index(settings: Settings, name: str) -> VideoIndex:
    if (db := _database(settings)) is not None:
        from imagelens.video import pg_store

        return pg_store.PostgresVideoIndex.open(db, check_index_name(name))
    root = video_index_path(settings, name)
    if not (root / VIDEO_DB).exists():
        raise NotFoundError(f"The video index '{name}' does not exist.")
    return SQLiteVideoIndex(root, name, EmbeddedIndex.open(root, name))


def drop_video_index(settings: Settings, name: str) -> None:
    if (db := _database(settings)) is not None:
        from imagelens.video import pg_store

        pg_store.drop(db, check_index_name(name))
        return
    root = video_index_path(settings, name)
    if not (root / VIDEO_DB).exists():
        raise NotFoundError(f"The video index '{name}' does not exist.")
    shutil.rmtree(root)
