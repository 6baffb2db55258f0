"""How a trainer and whoever runs it talk: the trainer calls :meth:`TrainingControl.check` between steps (where it may
be told to stop) and :meth:`TrainingControl.report` with its progress.

Stopping is cooperative: a training step is never interrupted halfway, so a checkpoint on disk is always whole.
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class TrainingStopped(Exception):  # noqa: N818 - a signal, not an error
    """Raised by :meth:`TrainingControl.check` to end training early; the subclass says why."""


class TrainingCancelled(TrainingStopped):
    """Someone cancelled the job: discard it."""


class TrainingInterrupted(TrainingStopped):
    """The process is shutting down: keep the checkpoint, a later start resumes from it."""


class TimeBudgetExceeded(TrainingStopped):
    """The time budget ran out before a usable model existed."""


class TrainingControl(Protocol):
    def check(self) -> None:
        """Raise a :class:`TrainingStopped` subclass when training must stop now."""
        ...

    def report(self, **progress: Any) -> None:
        """Progress for people (stage, epoch, metric ...); may be dropped."""
        ...


class NoControl:
    """Run to the end, report nothing (direct calls, tests)."""

    def check(self) -> None:
        return None

    def report(self, **progress: Any) -> None:
        return None


class Deadline:
    """A time budget: ``remaining()`` seconds left, ``expired`` once spent. ``None`` means unlimited."""

    def __init__(self, budget_s: float | None, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._end = None if budget_s is None else clock() + max(budget_s, 0.0)

    def remaining(self) -> float | None:
        return None if self._end is None else max(self._end - self._clock(), 0.0)

    @property
    def expired(self) -> bool:
        return self._end is not None and self._clock() >= self._end
