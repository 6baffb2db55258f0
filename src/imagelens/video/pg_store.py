"""Video indexes in PostgreSQL (``IMAGELENS_DATABASE_URL``): every server replica sharing the database sees the same
indexes, documents, ingestions (with their leases) and checkpoints.

Rows live in the ``video_*`` tables (migration 5 of :mod:`imagelens.store.pgdb`); the segment vectors in a
:class:`~imagelens.retrieval.pgvector.PgVectorIndex` named ``video.<hex>`` (a random name kept in
``video_indexes.segments_index``: it cannot collide with a user's retrieval index, and the retrieval listing leaves
it out). An ingestion is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a lease
(owner + heartbeat): one replica runs it; another takes it over when the owner stopped renewing it for
``stale_after_s`` (:func:`~imagelens.customize.job_state.owner_alive`), and resumes it from its checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from imagelens.errors import ConflictError, NotFoundError
from imagelens.retrieval.base import EmbeddingModel
from imagelens.retrieval.pgvector import PgVectorIndex, drop_index
from imagelens.store.pgdb import Database
from imagelens.video.segments import Segment
from imagelens.video.store_base import (
    ING_KEYS,
    VideoIndex,
    VideoRecord,
    lease_alive,
    now,
    segment_blob,
    segment_of,
)

_VIDEO_COLS = (
    "document_id, url, metadata::text, user_data::text, duration, segments, warnings::text, created, updated"
)
_ING_COLS = (
    "name, state, request::text, details::text, error, created, updated, owner, heartbeat, progress::text"
)


def exists(db: Database, name: str) -> bool:
    with db.transaction() as conn:
        return conn.execute("SELECT 1 FROM video_indexes WHERE name = %s", (name,)).fetchone() is not None


def list_names(db: Database) -> list[str]:
    with db.transaction() as conn:
        return [r[0] for r in conn.execute("SELECT name FROM video_indexes ORDER BY name")]


def drop(db: Database, name: str) -> None:
    with db.transaction() as conn:
        row = conn.execute(
            "DELETE FROM video_indexes WHERE name = %s RETURNING segments_index", (name,)
        ).fetchone()
    if row is None:
        raise NotFoundError(f"The video index '{name}' does not exist.")
    with contextlib.suppress(NotFoundError):  # a drop interrupted after the row went
        drop_index(db, row[0])


class PostgresVideoIndex(VideoIndex):
    def __init__(self, db: Database, name: str, segments: PgVectorIndex) -> None:
        super().__init__(name, segments)
        self.db = db

    @classmethod
    def create(
        cls,
        db: Database,
        name: str,
        model: EmbeddingModel,
        info: Mapping[str, Any],
        *,
        exist_ok: bool = False,
    ) -> PostgresVideoIndex:
        seg_name = f"video.{uuid.uuid4().hex[:16]}"
        with db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO video_indexes (name, segments_index, info) VALUES (%s, %s, %s::jsonb) "
                "ON CONFLICT (name) DO NOTHING RETURNING name",
                (name, seg_name, json.dumps(dict(info))),
            ).fetchone()
        if row is None:
            if not exist_ok:
                raise ConflictError(f"The video index '{name}' already exists.")
            index = cls.open(db, name)
            index.segments.check_model(model)
            return index
        try:
            segments = PgVectorIndex.create(db, seg_name, model)
        except BaseException:
            with db.transaction() as conn:
                conn.execute("DELETE FROM video_indexes WHERE name = %s", (name,))
            raise
        return cls(db, name, segments)

    @classmethod
    def open(cls, db: Database, name: str) -> PostgresVideoIndex:
        with db.transaction() as conn:
            row = conn.execute("SELECT segments_index FROM video_indexes WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"The video index '{name}' does not exist.")
        return cls(db, name, PgVectorIndex.open(db, row[0]))

    # --- the index's description and its videos ------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT info::text, (SELECT COUNT(*) FROM video_documents WHERE index_name = %s) FROM video_indexes "
                "WHERE name = %s",
                (self.name, self.name),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"The video index '{self.name}' does not exist.")
        out: dict[str, Any] = json.loads(row[0])
        out["documents"] = int(row[1])
        return out

    def update(self, metadata_schema: Any = None, user_data: Any = None) -> dict[str, Any]:
        changes: dict[str, Any] = {"updated": now()}
        if metadata_schema is not None:
            changes["metadataSchema"] = metadata_schema
        if user_data is not None:
            changes["userData"] = user_data
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE video_indexes SET info = info || %s::jsonb WHERE name = %s",
                (json.dumps(changes), self.name),
            )
        return self.info()

    def _write_video(self, record: VideoRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO video_documents (index_name, document_id, url, metadata, user_data, duration, segments, "
                "warnings, created, updated) VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s::jsonb, %s, %s) "
                "ON CONFLICT (index_name, document_id) DO UPDATE SET url = EXCLUDED.url, metadata = EXCLUDED.metadata, "
                "user_data = EXCLUDED.user_data, duration = EXCLUDED.duration, segments = EXCLUDED.segments, "
                "warnings = EXCLUDED.warnings, updated = EXCLUDED.updated",
                (
                    self.name, record.document_id, record.url, json.dumps(dict(record.metadata)),
                    json.dumps(record.user_data), record.duration_s, record.segments,
                    json.dumps(list(record.warnings)), record.created, record.updated,
                ),
            )  # fmt: skip

    def _delete_video_row(self, document_id: str) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM video_documents WHERE index_name = %s AND document_id = %s",
                (self.name, document_id),
            )
            return cur.rowcount > 0

    def video(self, document_id: str) -> VideoRecord | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                f"SELECT {_VIDEO_COLS} FROM video_documents WHERE index_name = %s AND document_id = %s",  # noqa: S608
                (self.name, document_id),
            ).fetchone()
        return None if row is None else _record(row)

    def videos(self, top: int = 1000, skip: int = 0) -> list[VideoRecord]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {_VIDEO_COLS} FROM video_documents WHERE index_name = %s "  # noqa: S608
                "ORDER BY created, document_id LIMIT %s OFFSET %s",
                (self.name, top, skip),
            ).fetchall()
        return [_record(r) for r in rows]

    # --- ingestions ----------------------------------------------------------------------------------------------

    def save_ingestion(
        self, name: str, state: str, request: Any, details: Any = (), error: str | None = None
    ) -> None:
        stamp = now()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO video_ingestions (index_name, name, state, request, details, error, created, updated) "
                "VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s) ON CONFLICT (index_name, name) DO UPDATE SET "
                "state = EXCLUDED.state, request = EXCLUDED.request, details = EXCLUDED.details, "
                "error = EXCLUDED.error, updated = EXCLUDED.updated, "
                "progress = CASE WHEN EXCLUDED.state = 'Running' THEN video_ingestions.progress END",
                (self.name, name, state, json.dumps(request), json.dumps(list(details)), error, stamp, stamp),
            )

    def ingestion(self, name: str) -> dict[str, Any] | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                f"SELECT {_ING_COLS} FROM video_ingestions WHERE index_name = %s AND name = %s",  # noqa: S608
                (self.name, name),
            ).fetchone()
        return None if row is None else _ingestion(row)

    def ingestions(self) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {_ING_COLS} FROM video_ingestions WHERE index_name = %s ORDER BY created, name",  # noqa: S608
                (self.name,),
            ).fetchall()
        return [_ingestion(r) for r in rows]

    def claim_ingestion(self, name: str, owner: str, stale_after_s: float) -> dict[str, Any] | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                f"SELECT {_ING_COLS} FROM video_ingestions WHERE index_name = %s AND name = %s "  # noqa: S608
                "AND state IN ('NotStarted', 'Running') FOR UPDATE SKIP LOCKED",
                (self.name, name),
            ).fetchone()
            if row is None:
                return None  # finished, gone, or being claimed by another replica right now
            job = _ingestion(row)
            if job["owner"] not in (None, owner) and lease_alive(
                job["owner"], job["heartbeat"], owner, stale_after_s
            ):
                return None
            conn.execute(
                "UPDATE video_ingestions SET owner = %s, heartbeat = %s WHERE index_name = %s AND name = %s",
                (owner, time.time(), self.name, name),
            )
        job.update(owner=owner)
        return job

    def renew_ingestion(self, name: str, owner: str, progress: Mapping[str, Any] | None = None) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE video_ingestions SET heartbeat = %s, progress = COALESCE(%s::jsonb, progress) "
                "WHERE index_name = %s AND name = %s AND owner = %s",
                (
                    time.time(),
                    None if progress is None else json.dumps(dict(progress)),
                    self.name,
                    name,
                    owner,
                ),
            )
            return cur.rowcount > 0

    def release_ingestion(self, name: str, owner: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE video_ingestions SET owner = NULL, heartbeat = NULL WHERE index_name = %s AND name = %s "
                "AND owner = %s",
                (self.name, name, owner),
            )

    # --- checkpoints ---------------------------------------------------------------------------------------------

    def checkpoint(self, document_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT state::text FROM video_checkpoints WHERE index_name = %s AND document_id = %s",
                (self.name, document_id),
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def save_checkpoint(
        self, document_id: str, state: Mapping[str, Any], segments: Sequence[Segment]
    ) -> None:
        nxt = int(state["next"])
        first = nxt - len(segments)
        with self.db.transaction() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO video_pending VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT "
                    "(index_name, document_id, n) DO UPDATE SET start_s = EXCLUDED.start_s, end_s = EXCLUDED.end_s, "
                    "best_s = EXCLUDED.best_s, samples = EXCLUDED.samples, vector = EXCLUDED.vector",
                    [
                        (
                            self.name,
                            document_id,
                            first + k,
                            s.start_s,
                            s.end_s,
                            s.best_s,
                            s.samples,
                            segment_blob(s),
                        )
                        for k, s in enumerate(segments)
                    ],
                )
            conn.execute(
                "DELETE FROM video_pending WHERE index_name = %s AND document_id = %s AND n >= %s",
                (self.name, document_id, nxt),
            )
            conn.execute(
                "INSERT INTO video_checkpoints VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT (index_name, document_id) "
                "DO UPDATE SET state = EXCLUDED.state, updated = EXCLUDED.updated",
                (self.name, document_id, json.dumps(dict(state)), now()),
            )

    def pending_segments(self, document_id: str, batch: int = 512) -> Iterator[list[Segment]]:
        n = 0
        while True:
            with self.db.transaction() as conn:
                rows = conn.execute(
                    "SELECT start_s, end_s, best_s, samples, vector FROM video_pending WHERE index_name = %s "
                    "AND document_id = %s AND n >= %s ORDER BY n LIMIT %s",
                    (self.name, document_id, n, batch),
                ).fetchall()
            if not rows:
                return
            yield [segment_of(*r) for r in rows]
            n += len(rows)

    def clear_checkpoint(self, document_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM video_pending WHERE index_name = %s AND document_id = %s",
                (self.name, document_id),
            )
            conn.execute(
                "DELETE FROM video_checkpoints WHERE index_name = %s AND document_id = %s",
                (self.name, document_id),
            )


def _record(row: Sequence[Any]) -> VideoRecord:
    user = json.loads(row[3]) if row[3] is not None else None
    return VideoRecord(
        row[0],
        row[1],
        json.loads(row[2]),
        user,
        row[4],
        int(row[5]),
        tuple(json.loads(row[6])),
        row[7],
        row[8],
    )


def _ingestion(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(ING_KEYS, row, strict=True))
    out["request"] = json.loads(out["request"])
    out["details"] = json.loads(out["details"])
    out["progress"] = json.loads(out["progress"]) if out["progress"] else None
    return out
