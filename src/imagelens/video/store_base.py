"""What every video store holds and does, whatever its backend (:mod:`~imagelens.video.store`: SQLite + the embedded
index, the default; :mod:`~imagelens.video.pg_store`: PostgreSQL + pgvector with ``IMAGELENS_DATABASE_URL``).

A video index is: its Azure description (features, metadata schema, user data), one row per video document (URL,
metadata, duration, warnings), one per ingestion (its request, state, and the lease of the worker running it), and
its segments' vectors in a retrieval index. A segment is a retrieval document ``"<documentId>#<n>"`` whose fields
hold ``video`` (the video's documentId), ``kind`` (``VideoFrame``, or ``SpeechTextSegment`` for a transcript
segment, which also holds ``text``), ``start``, ``end`` and ``best`` (seconds). Frame segments are numbered first,
then speech segments.

**Checkpoints.** While a video is ingested, its closed frame segments are written in batches to a *pending* table
of the store together with the checkpoint (where to resume: the decoder's and the segment builder's state), in one
transaction. They are not searchable yet: the video's earlier version (mode ``update``) stays whole and visible
until :meth:`VideoIndex.publish` replaces it by the new one at the end (drop old segments, add the pending ones,
write the row, then forget the checkpoint; a crash inside it re-runs it from the pending rows, which is idempotent).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from imagelens.customize.job_state import owner_alive
from imagelens.errors import InvalidArgumentError, NotFoundError
from imagelens.retrieval.base import Document, Filters, Vector
from imagelens.retrieval.pgvector import AnyIndex
from imagelens.video.options import server_metadata
from imagelens.video.segments import Segment
from imagelens.video.speech import KIND_SPEECH, SpeechSegment

KIND_FRAME = "VideoFrame"
FEATURES = ("vision", "speech")
#: feature name -> the documentKind of its segments
FEATURE_KINDS = {"vision": KIND_FRAME, "speech": KIND_SPEECH}
ING_KEYS = (
    "name",
    "state",
    "request",
    "details",
    "error",
    "created",
    "updated",
    "owner",
    "heartbeat",
    "progress",
)


class _Lease:
    __slots__ = ("heartbeat", "owner")

    def __init__(self, owner: str | None, heartbeat: float | None) -> None:
        self.owner, self.heartbeat = owner, heartbeat


def lease_alive(owner: str | None, heartbeat: float | None, me: str, stale_after_s: float) -> bool:
    """Whether an ingestion's owner still works on it: :func:`~imagelens.customize.job_state.owner_alive` (it
    renewed its lease within ``stale_after_s`` and, on this host, its process exists), except that an owner with
    this process's host and pid but another token is a previous process whose pid this one reuses (a container
    restarted: pid 1 again), so it is gone."""
    if owner is None:
        return False
    host, _, rest = owner.partition(":")
    pid, _, token = rest.partition(":")
    mine = me.split(":")
    if owner != me and len(mine) == 3 and token and [host, pid] == mine[:2]:
        return False
    return owner_alive(_Lease(owner, heartbeat), me, stale_after_s)


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


def segment_blob(seg: Segment) -> bytes:
    return np.asarray(seg.vector, dtype=np.float32).tobytes()


def segment_of(start: float, end: float, best: float, samples: int, blob: bytes) -> Segment:
    return Segment(
        float(start), float(end), float(best), np.frombuffer(blob, dtype=np.float32).copy(), int(samples)
    )


class VideoIndex(ABC):
    """One video index; the backends implement the rows, this class the segments and search."""

    name: str
    segments: AnyIndex

    def __init__(self, name: str, segments: AnyIndex) -> None:
        self.name = name
        self.segments = segments
        self.model = segments.model
        self._lock = threading.RLock()

    # --- the index's description and its videos (backend) --------------------------------------------------------

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """features, metadataSchema, userData, created, updated, documents (the count)."""

    @abstractmethod
    def update(self, metadata_schema: Any = None, user_data: Any = None) -> dict[str, Any]: ...

    def features(self) -> list[str]:
        return [f["name"] for f in self.info().get("features", [{"name": "vision"}])]

    @abstractmethod
    def video(self, document_id: str) -> VideoRecord | None: ...

    @abstractmethod
    def videos(self, top: int = 1000, skip: int = 0) -> list[VideoRecord]: ...

    @abstractmethod
    def _write_video(self, record: VideoRecord) -> None:
        """Insert or replace the row (keeping the first ``created``)."""

    @abstractmethod
    def _delete_video_row(self, document_id: str) -> bool: ...

    # --- ingestions (backend) ------------------------------------------------------------------------------------

    @abstractmethod
    def save_ingestion(
        self, name: str, state: str, request: Any, details: Any = (), error: str | None = None
    ) -> None:
        """Create or overwrite an ingestion's state (its lease is kept)."""

    @abstractmethod
    def ingestion(self, name: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def ingestions(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    def claim_ingestion(self, name: str, owner: str, stale_after_s: float) -> dict[str, Any] | None:
        """Take the lease of an unfinished ingestion nobody else holds alive (its owner is ``None``, this one, or
        gone: see :func:`~imagelens.customize.job_state.owner_alive`); answers the job or ``None``. Atomic: two
        replicas never both win it."""

    @abstractmethod
    def renew_ingestion(self, name: str, owner: str, progress: Mapping[str, Any] | None = None) -> bool:
        """Renew the lease (heartbeat = now) and save ``progress`` (the document in work: ``documentId``,
        ``processedSeconds``, ``durationSeconds``; kept while ``Running``); ``False``: another worker took it
        over."""

    @abstractmethod
    def release_ingestion(self, name: str, owner: str) -> None: ...

    # --- checkpoints (backend) -----------------------------------------------------------------------------------

    @abstractmethod
    def checkpoint(self, document_id: str) -> dict[str, Any] | None:
        """The document's saved checkpoint (``state``, with ``ingestion``), or ``None``."""

    @abstractmethod
    def save_checkpoint(
        self, document_id: str, state: Mapping[str, Any], segments: Sequence[Segment]
    ) -> None:
        """In one transaction: add the closed ``segments`` (numbered from ``state["next"] - len(segments)``) to the
        document's pending segments and save ``state`` as its checkpoint."""

    @abstractmethod
    def pending_segments(self, document_id: str, batch: int = 512) -> Iterator[list[Segment]]:
        """The pending segments in order, ``batch`` at a time."""

    @abstractmethod
    def clear_checkpoint(self, document_id: str) -> None:
        """Forget the checkpoint and the pending segments."""

    # --- shared -------------------------------------------------------------------------------------------------

    def replace_video(
        self, record: VideoRecord, segments: Iterable[Segment], speech: Sequence[SpeechSegment] = ()
    ) -> int:
        """Store a video's frame and speech segments (replacing any earlier ones) and its row (whose ``segments``
        counts both); answers that count."""
        return self._replace(record, [list(segments)], speech)

    def publish(self, record: VideoRecord, speech: Sequence[SpeechSegment] = ()) -> int:
        """Replace the video by its pending segments (see the module docstring), then forget the checkpoint."""
        count = self._replace(record, self.pending_segments(record.document_id), speech)
        self.clear_checkpoint(record.document_id)
        return count

    def _replace(
        self, record: VideoRecord, batches: Iterable[list[Segment]], speech: Sequence[SpeechSegment]
    ) -> int:
        with self._lock:
            self._drop_segments(record.document_id)
            n = 0
            for batch in batches:
                docs = [_frame_doc(record, n + k, seg) for k, seg in enumerate(batch)]
                n += len(docs)
                for i in range(0, len(docs), 512):
                    self.segments.upsert(docs[i : i + 512])
            docs = [_speech_doc(record, n + k, seg) for k, seg in enumerate(speech)]
            n += len(docs)
            for i in range(0, len(docs), 512):
                self.segments.upsert(docs[i : i + 512])
            self.segments.flush()
            self._write_video(_with_count(record, n))
        return n

    def _drop_segments(self, document_id: str) -> None:
        old = self.video(document_id)
        if old is not None:
            self.segments.delete(f"{document_id}#{n}" for n in range(old.segments))

    def delete_video(self, document_id: str) -> bool:
        with self._lock:
            self._drop_segments(document_id)
            self.segments.flush()
            self.clear_checkpoint(document_id)
            return self._delete_video_row(document_id)

    def update_video_metadata(
        self, document_id: str, metadata: Mapping[str, Any], user_data: Any = None
    ) -> VideoRecord:
        """Azure's ingestion mode ``update``: replace a document's metadata (and user data, when given) without
        reprocessing the video. What the server keeps there (:func:`~imagelens.video.options.server_metadata`, the
        moderation verdicts) survives the update."""
        with self._lock:
            old = self.video(document_id)
            if old is None:
                raise NotFoundError(
                    f"The document '{document_id}' is not in index '{self.name}': mode 'update' changes the metadata "
                    "of an ingested video; use mode 'add' to ingest it."
                )
            record = replace(
                old,
                metadata={**dict(metadata), **server_metadata(old.metadata)},
                user_data=old.user_data if user_data is None else user_data,
                updated=now(),
            )
            self._write_video(record)
            return record

    def matching_videos(self, string_filters: Mapping[str, Sequence[str]]) -> list[str]:
        """Document ids whose metadata field holds one of the given values (every field must match)."""
        out = []
        for rec in self.videos(top=10**9):
            meta = {k.lower(): v for k, v in rec.metadata.items()}
            if all(str(meta.get(k.lower())) in {str(v) for v in vals} for k, vals in string_filters.items()):
                out.append(rec.document_id)
        return out

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

    def close(self) -> None:
        self.segments.close()


def _with_count(record: VideoRecord, count: int) -> VideoRecord:
    return VideoRecord(
        record.document_id, record.url, record.metadata, record.user_data, record.duration_s, count,
        record.warnings, record.created, record.updated,
    )  # fmt: skip


def _frame_doc(record: VideoRecord, n: int, seg: Segment) -> Document:
    fields = {
        "video": record.document_id,
        "kind": KIND_FRAME,
        "start": round(seg.start_s, 3),
        "end": round(seg.end_s, 3),
        "best": round(seg.best_s, 3),
    }
    return Document(f"{record.document_id}#{n}", seg.vector, uri=record.url, fields=fields)


def _speech_doc(record: VideoRecord, n: int, seg: SpeechSegment) -> Document:
    fields = {
        "video": record.document_id,
        "kind": KIND_SPEECH,
        "start": round(seg.start_s, 3),
        "end": round(seg.end_s, 3),
        "best": round(seg.start_s, 3),
        "text": seg.text,
    }
    return Document(f"{record.document_id}#{n}", seg.vector, uri=record.url, fields=fields)
