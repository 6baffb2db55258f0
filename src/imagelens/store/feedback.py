"""User feedback on results ("this tag is wrong", "this caption is offensive"), kept so an operator can review it and
tune thresholds and tag block lists (docs/feedback.md).

One item names the answer it is about (``requestId``: the ``apim-request-id`` the server sent), the ``feature`` (a
registry feature name or a route kind), a ``verdict``, and optionally the ``value`` reported (the tag or text the
service gave), what was ``expected``, a ``comment`` and the image's SHA-256 (never the image itself). The server adds
``client`` (the access key's hash or the address, as the rate limiter names clients) and ``createdDateTime``.

Retention: items older than ``retention_days`` are invisible at once and deleted on the next write, purge or server
start; at most ``max_items`` are kept (the oldest dropped first). :class:`SQLiteFeedbackStore` here (its own file in
the store folder), :class:`~imagelens.store.pg_feedback.PostgresFeedbackStore` in PostgreSQL;
:func:`imagelens.store.open_feedback` chooses. Standard library only.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from imagelens.errors import InvalidArgumentError
from imagelens.store.sqlite_tx import connect, immediate

VERDICTS = ("incorrect", "offensive", "missing", "correct")
#: Route kinds that are not analysis features, accepted as ``feature`` too.
ROUTE_KINDS = ("read", "segment", "retrieval", "thumbnail", "areaOfInterest", "productRecognition", "video")
MAX_EXPECTED_BYTES = 8 * 1024
MAX_COMMENT_CHARS = 2000
MAX_VALUE_CHARS = 200
MAX_TOP = 1000
_FIELDS = {"requestId", "feature", "verdict", "value", "expected", "comment", "imageSha256"}
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
DB_FILE = "feedback.sqlite3"


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    id: str
    created: float  # seconds since the epoch
    feature: str
    verdict: str
    client: str
    request_id: str | None = None
    value: str | None = None
    expected: Any = None
    comment: str | None = None
    image_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "createdDateTime": iso(self.created),
            "feature": self.feature,
            "verdict": self.verdict,
            "client": self.client,
        }
        for key, attr in (
            ("requestId", self.request_id),
            ("value", self.value),
            ("expected", self.expected),
            ("comment", self.comment),
            ("imageSha256", self.image_sha256),
        ):
            if attr is not None:
                body[key] = attr
        return body


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str, name: str = "since") -> float:
    """An ISO 8601 date or date-time (no zone: UTC) as seconds since the epoch; 400 when it is not one."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(
            f"'{name}' must be an ISO 8601 date-time such as 2026-12-01T00:00:00Z; got {text[:40]!r}."
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _text(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgumentError(f"'{key}' must be a string.")
    if len(value) > limit:
        raise InvalidArgumentError(f"'{key}' is longer than {limit} characters ({len(value)}).")
    if "\x00" in value:
        raise InvalidArgumentError(f"'{key}' must not contain NUL characters.")
    return value


def parse_feedback(body: Any, features: Collection[str]) -> dict[str, Any]:
    """Check a feedback request body; returns the keyword arguments of :meth:`FeedbackStore.add` (less client).
    ``features``: the accepted ``feature`` names (registry features and :data:`ROUTE_KINDS`)."""
    if not isinstance(body, dict):
        raise InvalidArgumentError("The feedback body must be a JSON object.")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidArgumentError(f"Unknown feedback field(s) {unknown}; known: {sorted(_FIELDS)}.")
    feature, verdict = body.get("feature"), body.get("verdict")
    if not isinstance(feature, str) or feature not in features:
        raise InvalidArgumentError(f"'feature' must be one of {sorted(features)}; got {str(feature)[:60]!r}.")
    if verdict not in VERDICTS:
        raise InvalidArgumentError(f"'verdict' must be one of {list(VERDICTS)}; got {str(verdict)[:60]!r}.")
    request_id = _text(body, "requestId", 128)
    if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
        raise InvalidArgumentError(
            "'requestId' must be the apim-request-id of an answer (letters, digits, -._:)."
        )
    sha = _text(body, "imageSha256", 64)
    if sha is not None and not _SHA256.fullmatch(sha):
        raise InvalidArgumentError("'imageSha256' must be 64 hexadecimal digits (the image's SHA-256).")
    expected = body.get("expected")
    if expected is not None:
        try:
            text = json.dumps(expected, allow_nan=False)
        except ValueError:
            raise InvalidArgumentError("'expected' must not contain NaN or Infinity.") from None
        if len(text.encode()) > MAX_EXPECTED_BYTES:
            raise InvalidArgumentError(f"'expected' is larger than {MAX_EXPECTED_BYTES} bytes as JSON.")
        if "\\u0000" in text:
            raise InvalidArgumentError("'expected' must not contain NUL characters.")
    return {
        "feature": feature,
        "verdict": verdict,
        "request_id": request_id,
        "value": _text(body, "value", MAX_VALUE_CHARS),
        "expected": expected,
        "comment": _text(body, "comment", MAX_COMMENT_CHARS),
        "image_sha256": None if sha is None else sha.lower(),
    }


def check_page(top: int, skip: int) -> None:
    if not 1 <= top <= MAX_TOP:
        raise InvalidArgumentError(f"'top' must be between 1 and {MAX_TOP}; got {top}.")
    if skip < 0:
        raise InvalidArgumentError(f"'skip' must be 0 or more; got {skip}.")


def reported_names(item: FeedbackItem) -> list[str]:
    """The names an item reports as wrong: its ``value``, else ``expected`` when it is a name, ``{"value"|"name"}``
    or a list of those (lower-cased)."""
    if item.value is not None:
        found: list[Any] = [item.value]
    else:
        found = item.expected if isinstance(item.expected, list) else [item.expected]
    names = []
    for entry in found:
        if isinstance(entry, dict):
            entry = entry.get("value", entry.get("name"))
        if isinstance(entry, str) and entry.strip():
            names.append(entry.strip().lower()[:MAX_VALUE_CHARS])
    return names


def summarize(items: Iterator[FeedbackItem], top_names: int = 20) -> dict[str, Any]:
    """Counts per feature and verdict, and the tag names reported ``incorrect``/``offensive`` most often (block-list
    candidates)."""
    counts: dict[str, Counter[str]] = {}
    names: dict[str, Counter[str]] = {}
    total = 0
    for item in items:
        total += 1
        counts.setdefault(item.feature, Counter())[item.verdict] += 1
        if item.feature == "tags" and item.verdict in ("incorrect", "offensive"):
            for name in set(reported_names(item)):
                names.setdefault(name, Counter())[item.verdict] += 1
    ranked = sorted(names.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:top_names]
    return {
        "total": total,
        "counts": {f: {v: c[v] for v in VERDICTS if c[v]} for f, c in sorted(counts.items())},
        "tagCandidates": [
            {"name": n, "total": sum(c.values()), **{v: c[v] for v in ("incorrect", "offensive") if c[v]}}
            for n, c in ranked
        ],
    }


@runtime_checkable
class FeedbackStore(Protocol):
    retention_days: float | None
    max_items: int

    def add(
        self,
        *,
        feature: str,
        verdict: str,
        client: str,
        request_id: str | None = None,
        value: str | None = None,
        expected: Any = None,
        comment: str | None = None,
        image_sha256: str | None = None,
    ) -> FeedbackItem: ...

    def get(self, item_id: str) -> FeedbackItem | None: ...

    def delete(self, item_id: str) -> bool: ...

    def list(
        self,
        *,
        feature: str | None = None,
        verdict: str | None = None,
        since: float | None = None,
        top: int | None = 100,
        skip: int = 0,
    ) -> list[FeedbackItem]:
        """Newest first. ``top=None``: all."""
        ...

    def purge(self, before: float | None = None) -> int:
        """Delete what retention no longer keeps (and, with ``before``, every item created before it); returns how
        many items were deleted."""
        ...


class _Base:
    """What both backends share: the clock, the retention cut-off, new items."""

    def __init__(
        self, retention_days: float | None, max_items: int, clock: Callable[[], float] = time.time
    ) -> None:
        if retention_days is not None and retention_days <= 0:
            raise InvalidArgumentError(
                "feedback.retention_days must be > 0 (unset: no age limit); to keep nothing, set feedback.enabled "
                "to false."
            )
        if max_items < 1:
            raise InvalidArgumentError("feedback.max_items must be 1 or more.")
        self.retention_days = retention_days
        self.max_items = max_items
        self._clock = clock

    def _cutoff(self, now: float | None = None) -> float:
        """Items created before this are past retention (``-inf`` with no age limit)."""
        if self.retention_days is None:
            return float("-inf")
        return (self._clock() if now is None else now) - self.retention_days * 86400.0

    def _new(self, **fields: Any) -> FeedbackItem:
        return FeedbackItem(id=str(uuid.uuid4()), created=self._clock(), **fields)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    feature TEXT NOT NULL,
    verdict TEXT NOT NULL,
    client TEXT NOT NULL,
    request_id TEXT,
    value TEXT,
    expected TEXT,
    comment TEXT,
    image_sha256 TEXT
);
CREATE INDEX IF NOT EXISTS feedback_by_age ON feedback (created);
"""
COLUMNS = "id, created, feature, verdict, client, request_id, value, expected, comment, image_sha256"


def row_item(row: tuple[Any, ...]) -> FeedbackItem:
    item_id, created, feature, verdict, client, request_id, value, expected, comment, sha = row
    return FeedbackItem(
        item_id,
        float(created),
        feature,
        verdict,
        client,
        request_id,
        value,
        None if expected is None else json.loads(expected),
        comment,
        sha,
    )


def item_row(item: FeedbackItem) -> tuple[Any, ...]:
    expected = None if item.expected is None else json.dumps(item.expected)
    return (
        item.id,
        item.created,
        item.feature,
        item.verdict,
        item.client,
        item.request_id,
        item.value,
        expected,
        item.comment,
        item.image_sha256,
    )


def list_filters(
    cutoff: float, feature: str | None, verdict: str | None, since: float | None, mark: str
) -> tuple[str, list[Any]]:
    """The WHERE clause of a listing (``mark``: the driver's placeholder) and its arguments."""
    where = [f"created >= {mark}"]
    args: list[Any] = [cutoff if since is None else max(cutoff, since)]
    if feature is not None:
        where.append(f"feature = {mark}")
        args.append(feature)
    if verdict is not None:
        where.append(f"verdict = {mark}")
        args.append(verdict)
    return " AND ".join(where), args


class SQLiteFeedbackStore(_Base):
    """Feedback in ``root/feedback.sqlite3`` (WAL; one short connection per call, safe across threads and
    processes)."""

    def __init__(
        self,
        root: str | Path,
        retention_days: float | None = 90.0,
        max_items: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(retention_days, max_items, clock)
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / DB_FILE
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with connect(self.path) as db:
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db, immediate(db):
            yield db

    def _enforce(self, db: sqlite3.Connection, before: float | None = None) -> int:
        cutoff = self._cutoff() if before is None else max(self._cutoff(), before)
        gone = db.execute("DELETE FROM feedback WHERE created < ?", (cutoff,)).rowcount
        gone += db.execute(
            "DELETE FROM feedback WHERE seq IN (SELECT seq FROM feedback ORDER BY created DESC, seq DESC "
            "LIMIT -1 OFFSET ?)",
            (self.max_items,),
        ).rowcount
        return int(gone)

    def add(self, **fields: Any) -> FeedbackItem:
        item = self._new(**fields)
        with self._transaction() as db:
            db.execute(f"INSERT INTO feedback ({COLUMNS}) VALUES ({', '.join('?' * 10)})", item_row(item))  # noqa: S608
            self._enforce(db)
        return item

    def get(self, item_id: str) -> FeedbackItem | None:
        with self._connect() as db:
            row = db.execute(
                f"SELECT {COLUMNS} FROM feedback WHERE id = ? AND created >= ?",  # noqa: S608
                (item_id, self._cutoff()),
            ).fetchone()
        return None if row is None else row_item(row)

    def delete(self, item_id: str) -> bool:
        with self._transaction() as db:
            return bool(
                db.execute(
                    "DELETE FROM feedback WHERE id = ? AND created >= ?", (item_id, self._cutoff())
                ).rowcount
            )

    def list(
        self,
        *,
        feature: str | None = None,
        verdict: str | None = None,
        since: float | None = None,
        top: int | None = 100,
        skip: int = 0,
    ) -> list[FeedbackItem]:
        where, args = list_filters(self._cutoff(), feature, verdict, since, "?")
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {COLUMNS} FROM feedback WHERE {where} ORDER BY created DESC, seq DESC "  # noqa: S608
                "LIMIT ? OFFSET ?",
                (*args, -1 if top is None else top, skip),
            ).fetchall()
        return [row_item(r) for r in rows]

    def purge(self, before: float | None = None) -> int:
        with self._transaction() as db:
            return self._enforce(db, before)
