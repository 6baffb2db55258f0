"""Results of asynchronous operations (3.2 ``read/analyze``), kept in memory for a bounded time and count."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Operation:
    id: str
    status: str  # notStarted | running | succeeded | failed
    created: float
    updated: float
    result: Any = None
    error: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class OperationStore:
    def __init__(self, ttl_s: float, max_items: int, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s, self.max_items, self._clock = ttl_s, max_items, clock
        self._items: OrderedDict[str, Operation] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = self._clock()
        while self._items:
            oldest = next(iter(self._items.values()))
            if now - oldest.created <= self.ttl_s and len(self._items) <= self.max_items:
                break
            self._items.popitem(last=False)

    def create(self, op_id: str, **meta: Any) -> Operation:
        now = self._clock()
        op = Operation(op_id, "notStarted", now, now, meta=dict(meta))
        with self._lock:
            self._items[op_id] = op
            self._expire()
        return op

    def update(self, op_id: str, **changes: Any) -> None:
        with self._lock:
            op = self._items.get(op_id)
            if op is None:
                return
            for key, value in changes.items():
                setattr(op, key, value)
            op.updated = self._clock()

    def get(self, op_id: str) -> Operation | None:
        with self._lock:
            self._expire()
            return self._items.get(op_id)
