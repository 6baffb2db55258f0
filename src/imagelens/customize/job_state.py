"""A training job's states and the decisions about them, without the machinery that runs jobs.

A job's life: ``notStarted`` -> ``training`` -> ``succeeded`` | ``failed`` | ``cancelled``, with ``cancelling``
between a cancel request and the trainer noticing it (the status names are Azure's, and the values the store keeps).
A ``failed`` or ``cancelled`` job may be created again under its name (the store replaces it); a ``succeeded`` one
must be deleted first.

Whether a job's owner still works on it, and what a restart does with a job whose owner is gone, are decided here
(:func:`owner_alive`, :func:`recovery_action`); :class:`~imagelens.customize.jobs.JobManager` applies the decisions.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from imagelens.config import TrainingSettings
from imagelens.store.base import ModelKind, ModelRecord

#: What :meth:`JobManager.recover` does with an unfinished job nobody runs.
RecoveryAction = Literal["cancel", "queue", "resume", "fail"]


def utc_now() -> str:
    """The store's timestamp form (Azure's): ISO 8601 UTC with milliseconds and a ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def job_error(code: str, message: str) -> dict[str, Any]:
    """A job's ``error``: an error code of :mod:`imagelens.errors` (``inner_code``) and a message for people."""
    return {"code": code, "message": message}


def new_model_record(
    name: str,
    kind: str,
    dataset_name: str,
    time_budget_hours: float,
    *,
    test_dataset_name: str | None = None,
    info: dict[str, Any] | None = None,
) -> ModelRecord:
    """A job that has not started: what the HTTP route and ``imagelens train`` hand to ``store.create_model``."""
    now = utc_now()
    model_kind: ModelKind = kind  # type: ignore[assignment]  # ModelRecord checks it
    return ModelRecord(
        name=name, kind=model_kind, dataset_name=dataset_name, time_budget_hours=float(time_budget_hours),
        created=now, updated=now, test_dataset_name=test_dataset_name, info=dict(info or {}),
    )  # fmt: skip


# --- owners ------------------------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Leased(Protocol):
    """Anything with a lease: a training job's record, a video ingestion."""

    @property
    def owner(self) -> str | None: ...

    @property
    def heartbeat(self) -> float | None: ...


def owner_alive(record: Leased, me: str, stale_after_s: float) -> bool:
    """Whether the process named in ``record.owner`` (``host:pid:token``) is still working on the job: it is ``me``,
    or it reported within ``stale_after_s`` and (on this host) its process exists."""
    if record.owner is None:
        return False
    if record.owner == me:
        return True
    fresh = record.heartbeat is not None and time.time() - record.heartbeat < stale_after_s
    host, _, rest = record.owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit() and not pid_alive(int(pid_text)):
        return False
    return fresh


# --- restarts ----------------------------------------------------------------------------------------------------


def where(record: ModelRecord) -> str:
    """How far a job got, for messages."""
    p = record.progress
    if p.get("epoch") is not None:
        return f"at epoch {p['epoch']} of {p.get('epochs', '?')}"
    if p.get("stage"):
        return f"while {p['stage']}"
    return "before it reported progress"


def recovery_action(record: ModelRecord, training: TrainingSettings) -> tuple[RecoveryAction, str | None]:
    """What to do with an unfinished job whose owner is gone, and (for ``fail``) the reason.

    A job being cancelled is cancelled; one never started is queued; a training one resumes from its checkpoint,
    unless resuming is off or it was interrupted ``max_attempts`` times already (then it fails with the reason).
    """
    if record.status == "cancelling" or record.cancel_requested:
        return "cancel", None
    if record.status == "notStarted":
        return "queue", None
    if not training.resume_interrupted:
        return "fail", (
            f"Training was interrupted ({where(record)}) when the process running it stopped, and resuming is off "
            "(IMAGELENS_TRAINING__RESUME_INTERRUPTED=false)."
        )
    if record.attempts >= training.max_attempts:
        return "fail", (
            f"Training was interrupted {record.attempts} times ({where(record)}, the last time); giving up after "
            f"{training.max_attempts} attempts."
        )
    return "resume", None
