"""Product-recognition runs: Azure's ``productrecognition/{model}/runs/{run}`` bookkeeping, in memory.

A run is named by its caller, so the store is keyed by ``(model name, run name)``: creating a name that exists is a
conflict (Azure answers 409), reading or deleting one that does not is not found (404). States move
``notStarted -> running -> succeeded | failed``. Runs are kept for ``ttl_s`` after creation and at most
``max_runs`` of them (oldest dropped first), so an unattended server does not grow without bound.

Snapshots are frozen: a reader never sees a run change under it, and the worker thread replaces the whole record.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError

RunStatus = Literal["notStarted", "running", "succeeded", "failed"]
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ProductRun:
    model_name: str
    run_name: str
    status: RunStatus
    created: float
    """Seconds since the epoch."""
    updated: float
    result: dict[str, Any] | None = None
    """Azure's ``ProductRecognitionResultApiModel`` once succeeded."""
    error: dict[str, Any] | None = None
    """Azure's error object (``code``, ``message``, ``innererror``) once failed."""


def check_name(value: str, what: str) -> str:
    """Names travel in URL paths: 1..255 printable characters, no slashes or whitespace."""
    if not 1 <= len(value) <= MAX_NAME_LENGTH:
        raise InvalidArgumentError(
            f"the {what} must be 1 to {MAX_NAME_LENGTH} characters long, got {len(value)}"
        )
    bad = next((c for c in value if not c.isprintable() or c.isspace() or c in "/\\"), None)
    if bad is not None:
        raise InvalidArgumentError(
            f"the {what} {value!r} contains the character {bad!r}, which is not allowed"
        )
    return value


class ProductRunStore:
    def __init__(
        self, ttl_s: float = 48 * 3600.0, max_runs: int = 1000, clock: Callable[[], float] = time.time
    ):
        if ttl_s <= 0 or max_runs < 1:
            raise ValueError(f"ttl_s must be > 0 and max_runs >= 1, got {ttl_s}, {max_runs}")
        self.ttl_s, self.max_runs, self._clock = ttl_s, max_runs, clock
        self._runs: OrderedDict[tuple[str, str], ProductRun] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self) -> None:  # caller holds the lock
        now = self._clock()
        while self._runs:
            oldest = next(iter(self._runs.values()))
            if now - oldest.created <= self.ttl_s and len(self._runs) <= self.max_runs:
                break
            self._runs.popitem(last=False)

    def ensure_free(self, model_name: str, run_name: str) -> None:
        """:class:`ConflictError` when the name is taken for this model (a cheap check before any work)."""
        with self._lock:
            self._expire()
            taken = (model_name, run_name) in self._runs
        if taken:
            raise _conflict(model_name, run_name)

    def create(self, model_name: str, run_name: str) -> ProductRun:
        """A new run in ``notStarted``; :class:`ConflictError` when the name is taken for this model."""
        key = (check_name(model_name, "model name"), check_name(run_name, "run name"))
        now = self._clock()
        with self._lock:
            self._expire()
            if key in self._runs:
                raise _conflict(model_name, run_name)
            run = ProductRun(model_name, run_name, "notStarted", now, now)
            self._runs[key] = run
            self._expire()
        return run

    def get(self, model_name: str, run_name: str) -> ProductRun:
        with self._lock:
            self._expire()
            run = self._runs.get((model_name, run_name))
        if run is None:
            raise NotFoundError(
                f"The run '{run_name}' of model '{model_name}' was not found (or has expired)."
            )
        return run

    def delete(self, model_name: str, run_name: str) -> None:
        with self._lock:
            run = self._runs.pop((model_name, run_name), None)
        if run is None:
            raise NotFoundError(
                f"The run '{run_name}' of model '{model_name}' was not found (or has expired)."
            )

    def _update(self, model_name: str, run_name: str, **changes: Any) -> None:
        """Replace the record; a run deleted meanwhile stays deleted (its worker's result is dropped)."""
        with self._lock:
            run = self._runs.get((model_name, run_name))
            if run is not None:
                self._runs[(model_name, run_name)] = replace(run, updated=self._clock(), **changes)

    def mark_running(self, model_name: str, run_name: str) -> None:
        self._update(model_name, run_name, status="running")

    def succeed(self, model_name: str, run_name: str, result: dict[str, Any]) -> None:
        self._update(model_name, run_name, status="succeeded", result=result)

    def fail(self, model_name: str, run_name: str, error: dict[str, Any]) -> None:
        self._update(model_name, run_name, status="failed", error=error)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._runs)


def _conflict(model_name: str, run_name: str) -> ConflictError:
    return ConflictError(
        f"A run named '{run_name}' already exists for model '{model_name}'; delete it or choose another name."
    )
