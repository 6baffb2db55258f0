"""A per-request deadline that blocking work checks: decoding, each analysis stage, URL fetches.

The HTTP layer opens one :class:`Deadline` per request (``bound``); the work pool carries it into its worker thread
(context variables), and the code doing the work calls :func:`check` between steps. Over the deadline ``check``
raises :class:`RequestTimeoutError`; once the client has gone (``cancel``) it raises :class:`CancelledRequestError`.
Outside a request (the CLI, the library) there is no deadline and ``check`` costs one context-variable read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from imagelens.errors import CancelledRequestError, RequestTimeoutError

__all__ = ["Deadline", "bound", "check", "current", "remaining"]


class Deadline:
    """``budget_s`` seconds from now; ``cancel()`` stops the work early (the client disconnected)."""

    __slots__ = ("budget_s", "cancelled", "expires")

    def __init__(self, budget_s: float) -> None:
        if budget_s <= 0:
            raise ValueError(f"budget_s must be > 0, got {budget_s}")
        self.budget_s = float(budget_s)
        self.expires = time.monotonic() + self.budget_s
        self.cancelled = False

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.expires

    def cancel(self) -> None:
        self.cancelled = True

    def check(self) -> None:
        if self.cancelled:
            raise CancelledRequestError("The client closed the connection; the work was stopped.")
        if self.expired:
            raise self.timeout_error()

    def timeout_error(self) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"The request did not complete within its {self.budget_s:g} s deadline; the work was stopped.",
            {"deadline_s": self.budget_s},
        )


_current: ContextVar[Deadline | None] = ContextVar("imagelens_deadline", default=None)


def current() -> Deadline | None:
    return _current.get()


def check() -> None:
    """Raise when the current request's deadline has passed or its client has gone; no-op outside a request."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check()


def remaining(default: float) -> float:
    """Seconds left for the current request (``default`` outside one), never more than ``default``."""
    deadline = _current.get()
    return default if deadline is None else min(default, deadline.remaining())


@contextmanager
def bound(deadline: Deadline | None) -> Iterator[Deadline | None]:
    """Make ``deadline`` the current one inside the block (``None``: no deadline)."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)
