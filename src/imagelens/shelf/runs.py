"""Product-recognition runs: Azure's ``productrecognition/{model}/runs/{run}`` bookkeeping, in memory.

A run is named by its caller, so runs are keyed by ``(model name, run name)``: creating a name that exists is a
conflict (Azure answers 409), reading or deleting one that does not is not found (404). The records, their states
(``notStarted -> running -> succeeded | failed``), expiry (``ttl_s`` after creation) and bound (``max_runs``, oldest
dropped first) are :mod:`imagelens.operations`' (the one operation store); this module adds the names and errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
from imagelens.operations import Operation, OperationStatus, OperationStore

RunStatus = OperationStatus
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
    """Product-recognition runs over the shared :class:`~imagelens.operations.OperationStore` (kind
    ``productRecognitionRun``, id ``"{model}/{run}"``: names never hold a slash, so the id is unambiguous).

    Without ``store`` it makes its own with ``ttl_s``, ``max_runs`` and ``clock``; with one, those come from it.
    """

    KIND = "productRecognitionRun"

    def __init__(
        self,
        ttl_s: float = 48 * 3600.0,
        max_runs: int = 1000,
        clock: Callable[[], float] = time.time,
        *,
        store: OperationStore | None = None,
    ):
        self._store = store if store is not None else OperationStore(ttl_s, max_runs, clock)

    @staticmethod
    def _id(model_name: str, run_name: str) -> str:
        return f"{model_name}/{run_name}"

    def _view(self, op: Operation) -> ProductRun:
        model_name, _, run_name = op.id.partition("/")
        return ProductRun(model_name, run_name, op.status, op.created, op.updated, op.result, op.error)

    def ensure_free(self, model_name: str, run_name: str) -> None:
        """:class:`ConflictError` when the name is taken for this model (a cheap check before any work)."""
        if self._store.exists(self.KIND, self._id(model_name, run_name)):
            raise _conflict(model_name, run_name)

    def create(self, model_name: str, run_name: str) -> ProductRun:
        """A new run in ``notStarted``; :class:`ConflictError` when the name is taken for this model."""
        check_name(model_name, "model name")
        check_name(run_name, "run name")
        try:
            op = self._store.create(self.KIND, self._id(model_name, run_name))
        except ConflictError:
            raise _conflict(model_name, run_name) from None
        return self._view(op)

    def get(self, model_name: str, run_name: str) -> ProductRun:
        op = self._store.get(self.KIND, self._id(model_name, run_name))
        if op is None:
            raise _not_found(model_name, run_name)
        return self._view(op)

    def list(self, model_name: str) -> list[ProductRun]:
        """The live runs of ``model_name``, oldest first."""
        return [self._view(op) for op in self._store.list(self.KIND) if op.id.startswith(f"{model_name}/")]

    def delete(self, model_name: str, run_name: str) -> None:
        if not self._store.delete(self.KIND, self._id(model_name, run_name)):
            raise _not_found(model_name, run_name)

    def mark_running(self, model_name: str, run_name: str) -> None:
        self._store.mark_running(self.KIND, self._id(model_name, run_name))

    def succeed(self, model_name: str, run_name: str, result: dict[str, Any]) -> None:
        self._store.succeed(self.KIND, self._id(model_name, run_name), result)

    def fail(self, model_name: str, run_name: str, error: dict[str, Any]) -> None:
        self._store.fail(self.KIND, self._id(model_name, run_name), error)

    def __len__(self) -> int:
        return self._store.count(self.KIND)


def _not_found(model_name: str, run_name: str) -> NotFoundError:
    return NotFoundError(f"The run '{run_name}' of model '{model_name}' was not found (or has expired).")


def _conflict(model_name: str, run_name: str) -> ConflictError:
    return ConflictError(
        f"A run named '{run_name}' already exists for model '{model_name}'; delete it or choose another name."
    )
