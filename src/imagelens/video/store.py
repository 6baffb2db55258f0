"""A video index: its segments' vectors in a retrieval index, its videos and ingestions in a SQLite table beside it.

Layout: ``<store_dir>/video/<name>/`` holds the retrieval index of the segments
(:class:`~imagelens.retrieval.embedded.EmbeddedIndex`: ``index.sqlite3`` + the HNSW cache) and ``video.sqlite3``:
the index's Azure description (features, metadata schema, user data), one row per video document (URL, metadata,
duration, warnings) and one per ingestion (its request and state, so an interrupted one resumes on restart).

A segment is a retrieval document ``"<documentId>#<n>"`` whose fields hold ``video`` (the video's documentId),
``kind`` (``VideoFrame``, or ``SpeechTextSegment`` for a transcript segment, which also holds ``text``), ``start``,
``end`` and ``best`` (seconds). Frame segments are numbered first, then speech segments.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagelens.config import Settings
from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
from imagelens.retrieval.base import Document, EmbeddingModel, Filters, Vector, check_index_name
from imagelens.retrieval.embedded import EmbeddedIndex
from imagelens.video.segments import Segment
from imagelens.video.speech import KIND_SPEECH, SpeechSegment

VIDEO_DB = "video.sqlite3"
KIND_FRAME = "VideoFrame"
FEATURES = ("vision", "speech")
#: feature name -> the documentKind of its segments
FEATURE_KINDS = {"vision": KIND_FRAME, "speech": KIND_SPEECH}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS videos (
    document_id TEXT PRIMARY KEY, url TEXT, metadata TEXT NOT NULL DEFAULT '{}', user_data TEXT,
    duration REAL, segments INTEGER NOT NULL, warnings TEXT NOT NULL DEFAULT '[]', created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ingestions (
    name TEXT PRIMARY KEY, state TEXT NOT NULL, request TEXT NOT NULL, details TEXT NOT NULL DEFAULT '[]',
    error TEXT, created TEXT NOT NULL, updated TEXT NOT NULL
);
"""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_features(features: Any) -> list[dict[str, Any]]:
    """Azure's ``features``: ``[{"name": "vision" | "speech", "domain"?, "modelVersion"?}]``; default vision.
    (Whether the speech model is here is checked by the caller, which has the hub.)"""
    if features is None:
        return [{"name": "vision", "domain": "generic"}]
    if not isinstance(features, list) or not features:
        raise InvalidArgumentError('\'features\' must be a non-empty list of {"name": "vision"} objects.')
    out = []
    for item in features:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in FEATURES:
            raise InvalidArgumentError(f"Unknown feature {name!r}: the features are 'vision' and 'speech'.")
        domain = item.get("domain", "generic")
        if domain not in ("generic", "surveillance"):
            raise InvalidArgumentError(f"Unknown domain {domain!r}: 'generic' or 'surveillance'.")
        out.append({"name": name, "domain": domain})
    return out


@dataclass(frozen=True, slots=True)
class VideoRecord:
    document_id: str
    url: str | None
    metadata: Mapping[str, Any]
    user_data: Any
    duration_s: float | None
    segments: int
    warnings: tuple[str, ...]
    created: str
    updated: str


@dataclass(frozen=True, slots=True)
class SegmentRow:
    video: str
    kind: str
    start_s: float
    end_s: float
    best_s: float
    cosine: float
    text: str = ""


class VideoIndex:
    def __init__(self, root: Path, name: str, segments: EmbeddedIndex) -> None:
        self.root = root
        self.name = name
        self.segments = segments
        self.model = segments.model
        self._lock = threading.RLock()

    @contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.root / VIDEO_DB, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            yield con
        finally:
            con.close()

    # --- the index's description ---------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        with self.db() as con:
            raw = dict(con.execute("SELECT key, value FROM info").fetchall())
            count = con.execute("SELECT COUNT(*) FROM videos").fetchone()[0]
        out: dict[str, Any] = {k: json.loads(v) for k, v in raw.items()}
        out["documents"] = count
        return out

    def update(self, metadata_schema: Any = None, user_data: Any = None) -> dict[str, Any]:
        with self._lock, self.db() as con:
            if metadata_schema is not None:
                con.execute(
                    "UPDATE info SET value = ? WHERE key = 'metadataSchema'", (json.dumps(metadata_schema),)
                )
            if user_data is not None:
                con.execute("UPDATE info SET value = ? WHERE key = 'userData'", (json.dumps(user_data),))
            con.execute("UPDATE info SET value = ? WHERE key = 'updated'", (json.dumps(now()),))
        return self.info()

    # --- videos ----------------------------------------------------------------------------------------------

    def features(self) -> list[str]:
        with self.db() as con:
            row = con.execute("SELECT value FROM info WHERE key = 'features'").fetchone()
        return [f["name"] for f in json.loads(row[0])] if row else ["vision"]

    def replace_video(
        self, record: VideoRecord, segments: Sequence[Segment], speech: Sequence[SpeechSegment] = ()
    ) -> None:
        """Store a video's frame and speech segments (replacing any earlier ones) and its row (whose ``segments``
        counts both)."""
        with self._lock:
            self._drop_segments(record.document_id)
            docs = [
                Document(
                    f"{record.document_id}#{n}",
                    seg.vector,
                    uri=record.url,
                    fields={
                        "video": record.document_id,
                        "kind": KIND_FRAME,
                        "start": round(seg.start_s, 3),
                        "end": round(seg.end_s, 3),
                        "best": round(seg.best_s, 3),
                    },
                )
                for n, seg in enumerate(segments)
            ]
            docs += [
                Document(
                    f"{record.document_id}#{len(segments) + n}",
                    seg.vector,
                    uri=record.url,
                    fields={
                        "video": record.document_id,
                        "kind": KIND_SPEECH,
                        "start": round(seg.start_s, 3),
                        "end": round(seg.end_s, 3),
                        "best": round(seg.start_s, 3),
                        "text": seg.text,
                    },
                )
                for n, seg in enumerate(speech)
            ]
            for i in range(0, len(docs), 512):
                self.segments.upsert(docs[i : i + 512])
            self.segments.flush()
            with self.db() as con:
                con.execute(
                    "INSERT OR REPLACE INTO videos (document_id, url, metadata, user_data, duration, segments, warnings,"
                    " created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, COALESCE((SELECT created FROM videos WHERE "
                    "document_id = ?), ?), ?)",
                    (
                        record.document_id,
                        record.url,
                        json.dumps(dict(record.metadata)),
                        json.dumps(record.user_data),
                        record.duration_s,
                        len(docs),
                        json.dumps(list(record.warnings)),
                        record.document_id,
                        record.created,
                        record.updated,
                    ),
                )

    def _drop_segments(self, document_id: str) -> None:
        with self.db() as con:
            row = con.execute("SELECT segments FROM videos WHERE document_id = ?", (document_id,)).fetchone()
        if row is not None:
            self.segments.delete(f"{document_id}#{n}" for n in range(int(row[0])))

    def delete_video(self, document_id: str) -> bool:
        with self._lock:
            self._drop_segments(document_id)
            self.segments.flush()
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

    def matching_videos(self, string_filters: Mapping[str, Sequence[str]]) -> list[str]:
        """Document ids whose metadata field holds one of the given values (every field must match)."""
        out = []
        for rec in self.videos(top=10**9):
            meta = {k.lower(): v for k, v in rec.metadata.items()}
            if all(str(meta.get(k.lower())) in {str(v) for v in vals} for k, vals in string_filters.items()):
                out.append(rec.document_id)
        return out

    # --- search ----------------------------------------------------------------------------------------------

    def search(
        self,
        vector: Vector,
        top: int = 10,
        skip: int = 0,
        document_ids: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[SegmentRow]:
        """Segments nearest ``vector``; ``kinds`` (documentKinds) and ``document_ids`` restrict them."""
        equals: dict[str, Any] = {}
        if document_ids is not None:
            equals["video"] = list(document_ids)
        if kinds is not None:
            equals["kind"] = list(kinds)
        if (document_ids is not None and not document_ids) or (kinds is not None and not kinds):
            return []
        rows = self.segments.search(
            vector, top=top, skip=skip, filters=Filters(equals=equals) if equals else None
        )
        out = []
        for _doc, cosine, meta in rows:
            f = meta["fields"]
            out.append(
                SegmentRow(f["video"], f["kind"], f["start"], f["end"], f["best"], cosine, f.get("text", ""))
            )
        return out

    # --- ingestions ------------------------------------------------------------------------------------------

    def save_ingestion(
        self, name: str, state: str, request: Any, details: Any = (), error: str | None = None
    ) -> None:
        stamp = now()
        with self._lock, self.db() as con:
            con.execute(
                "INSERT INTO ingestions (name, state, request, details, error, created, updated) VALUES "
                "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET state = excluded.state, request = "
                "excluded.request, details = excluded.details, error = excluded.error, updated = excluded.updated",
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

    def close(self) -> None:
        self.segments.close()


_VIDEO_COLS = "document_id, url, metadata, user_data, duration, segments, warnings, created, updated"
_ING_COLS = "name, state, request, details, error, created, updated"


def _record(row: Sequence[Any]) -> VideoRecord:
    return VideoRecord(
        row[0], row[1], json.loads(row[2]), json.loads(row[3]) if row[3] else None, row[4], int(row[5]),
        tuple(json.loads(row[6])), row[7], row[8],
    )  # fmt: skip


def _ingestion(row: Sequence[Any]) -> dict[str, Any]:
    keys = ("name", "state", "request", "details", "error", "created", "updated")
    out = dict(zip(keys, row, strict=True))
    out["request"] = json.loads(out["request"])
    out["details"] = json.loads(out["details"])
    return out


# --- where video indexes live --------------------------------------------------------------------------------------


def videos_root(settings: Settings) -> Path:
    from imagelens.store import default_store_dir

    base = settings.store_dir if settings.store_dir is not None else default_store_dir()
    return Path(base) / "video"


def video_index_path(settings: Settings, name: str) -> Path:
    return videos_root(settings) / check_index_name(name)


def video_index_exists(settings: Settings, name: str) -> bool:
    try:
        return (video_index_path(settings, name) / VIDEO_DB).exists()
    except InvalidArgumentError:
        return False


def list_video_indexes(settings: Settings) -> list[str]:
    root = videos_root(settings)
    return sorted(p.name for p in root.iterdir() if (p / VIDEO_DB).exists()) if root.exists() else []


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
    root = video_index_path(settings, name)
    if (root / VIDEO_DB).exists():
        if not exist_ok:
            raise ConflictError(f"The video index '{name}' already exists.")
        index = open_video_index(settings, name)
        index.segments.check_model(model)
        return index
    segments = EmbeddedIndex.create(root, name, model, exist_ok=True)
    stamp = now()
    schema = metadata_schema if metadata_schema is not None else {"language": "en", "fields": []}
    info = {
        "features": [dict(f, modelVersion=model.model_id) for f in checked],
        "metadataSchema": schema,
        "userData": user_data if user_data is not None else {},
        "created": stamp,
        "updated": stamp,
    }
    con = sqlite3.connect(root / VIDEO_DB, isolation_level=None)
    try:
        con.executescript(_SCHEMA)
        con.executemany(
            "INSERT OR REPLACE INTO info VALUES (?, ?)", [(k, json.dumps(v)) for k, v in info.items()]
        )
    finally:
        con.close()
    return VideoIndex(root, name, segments)


def open_video_index(settings: Settings, name: str) -> VideoIndex:
    root = video_index_path(settings, name)
    if not (root / VIDEO_DB).exists():
        raise NotFoundError(f"The video index '{name}' does not exist.")
    return VideoIndex(root, name, EmbeddedIndex.open(root, name))


def drop_video_index(settings: Settings, name: str) -> None:
    root = video_index_path(settings, name)
    if not (root / VIDEO_DB).exists():
        raise NotFoundError(f"The video index '{name}' does not exist.")
    shutil.rmtree(root)
