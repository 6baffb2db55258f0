"""Long-running operations kept in memory: the one store behind every "start now, poll later" route.

The 3.2 ``read/analyze`` results and the product-recognition runs both live here, each under its own ``kind``, keyed
by ``(kind, id)``. A record moves ``notStarted -> running -> succeeded | failed``, carries its result or its error,
and is kept for ``ttl_s`` after creation, at most ``max_items`` of each kind (the oldest of that kind dropped
first), so an unattended server does not grow without bound and one kind never pushes out another.

Records are frozen snapshots: a reader never sees one change under it; the worker replaces the whole record. A record
deleted (or expired) while its worker runs stays gone: the worker's late update is dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from imagelens.errors import ConflictError

OperationStatus = Literal["notStarted", "running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class Operation:
    kind: str
    id: str
    status: OperationStatus
    created: float
    """Seconds since the epoch."""
    updated: float
    result: Any = None
    """What the operation produced, once succeeded (the route's wire body)."""
    error: dict[str, Any] | None = None
    """Azure's error object (``code``, ``message``, ``innererror``), once failed."""


class OperationStore:
    """Thread-safe, bounded, TTL'd operations keyed by ``(kind, id)``."""

    def __init__(
        self, ttl_s: float = 48 * 3600.0, max_items: int = 1000, clock: Callable[[], float] = time.time
    ) -> None:
        if ttl_s <= 0 or max_items < 1:
            raise ValueError(f"ttl_s must be > 0 and max_items >= 1, got {ttl_s}, {max_items}")
        self.ttl_s, self.max_items, self._clock = ttl_s, max_items, clock
        self._kinds: dict[str, OrderedDict[str, Operation]] = {}
        self._none: OrderedDict[str, Operation] = OrderedDict()  # read for an unknown kind; never written
        self._lock = threading.Lock()

    def _expire(self) -> None:  # the caller holds the lock
        now = self._clock()
        for items in self._kinds.values():
            while items:
                oldest = next(iter(items.values()))
                if now - oldest.created <= self.ttl_s and len(items) <= self.max_items:
                    break
                items.popitem(last=False)

    def create(self, kind: str, op_id: str) -> Operation:
        """A new operation in ``notStarted``; :class:`ConflictError` when ``(kind, op_id)`` exists."""
        now = self._clock()
        with self._lock:
            self._expire()
            items = self._kinds.setdefault(kind, OrderedDict())
            if op_id in items:
                raise ConflictError(f"The {kind} operation '{op_id}' already exists.")
            op = Operation(kind, op_id, "notStarted", now, now)
            items[op_id] = op
            self._expire()
        return op

    def exists(self, kind: str, op_id: str) -> bool:
        with self._lock:
            self._expire()
            return op_id in self._kinds.get(kind, self._none)

    def get(self, kind: str, op_id: str) -> Operation | None:
        """The current snapshot, or ``None`` when unknown or expired (each route words its own 404)."""
        with self._lock:
            self._expire()
            return self._kinds.get(kind, self._none).get(op_id)

    def delete(self, kind: str, op_id: str) -> bool:
        """Whether there was one to delete."""
        with self._lock:
            return self._kinds.get(kind, self._none).pop(op_id, None) is not None

    def _update(self, kind: str, op_id: str, **changes: Any) -> None:
        with self._lock:
            items = self._kinds.get(kind, self._none)
            op = items.get(op_id)
            if op is not None:
                items[op_id] = replace(op, updated=self._clock(), **changes)

    def mark_running(self, kind: str, op_id: str) -> None:
        self._update(kind, op_id, status="running")

    def succeed(self, kind: str, op_id: str, result: Any) -> None:
        self._update(kind, op_id, status="succeeded", result=result)

    def fail(self, kind: str, op_id: str, error: dict[str, Any]) -> None:
        self._update(kind, op_id, status="failed", error=error)

    def list(self, kind: str) -> list[Operation]:
        """Live operations of ``kind``, oldest first."""
        with self._lock:
            self._expire()
            return list(self._kinds.get(kind, self._none).values())

    def count(self, kind: str | None = None) -> int:
        """Live operations of ``kind``, or of every kind."""
        with self._lock:
            self._expire()
            if kind is not None:
                return len(self._kinds.get(kind, self._none))
            return sum(len(items) for items in self._kinds.values())

    def __len__(self) -> int:
        return self.count()
