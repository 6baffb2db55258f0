"""A per-request deadline that blocking work checks: decoding, each analysis stage, URL fetches.

The HTTP layer opens one :class:`Deadline` per request (``bound``); the work pool carries it into its worker thread
(context variables), and the code doing the work calls :func:`check` between steps. Over the deadline ``check``
raises :class:`RequestTimeoutError`; once the client has gone (``cancel``) it raises :class:`CancelledRequestError`.
Outside a request (the CLI, the library) there is no deadline and ``check`` costs one context-variable read.

Inside one model call: generation loops and per-crop/per-batch loops call ``check`` each step, torch encoders check
it from a forward hook every few layers (:func:`check_every`), and a call that cannot check (one onnxruntime run) is
stopped from outside by :func:`watchdog`, which calls its ``stop`` when the deadline passes or the client goes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from imagelens.errors import CancelledRequestError, RequestTimeoutError

__all__ = ["Deadline", "bound", "check", "check_every", "current", "remaining", "watchdog"]


class Deadline:
    """``budget_s`` seconds from now; ``cancel()`` stops the work early (the client disconnected)."""

    __slots__ = ("_on_cancel", "budget_s", "cancelled", "expires")

    def __init__(self, budget_s: float) -> None:
        if budget_s <= 0:
            raise ValueError(f"budget_s must be > 0, got {budget_s}")
        self.budget_s = float(budget_s)
        self.expires = time.monotonic() + self.budget_s
        self.cancelled = False
        self._on_cancel: list[Callable[[], None]] = []

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.expires

    def cancel(self) -> None:
        self.cancelled = True
        for stop in list(self._on_cancel):
            stop()

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


@contextmanager
def watchdog(stop: Callable[[], None]) -> Iterator[None]:
    """Run the block with ``stop`` armed: called once, from another thread, when the current deadline passes or its
    client goes (e.g. setting onnxruntime's ``RunOptions.terminate``). If the block then fails, the deadline's own
    error (Timeout, or cancelled) replaces whatever the interrupted call raised. No-op outside a request."""
    deadline = _current.get()
    if deadline is None:
        yield
        return
    deadline.check()
    fired = threading.Event()

    def fire() -> None:
        if not fired.is_set():
            fired.set()
            stop()

    timer = threading.Timer(deadline.remaining(), fire)
    timer.daemon = True
    deadline._on_cancel.append(fire)
    timer.start()
    try:
        yield
    except Exception:
        if fired.is_set() or deadline.cancelled or deadline.expired:
            deadline.check()
        raise
    finally:
        timer.cancel()
        deadline._on_cancel.remove(fire)


def check_every(modules: Iterable[Any], every: int = 1) -> Callable[[], None]:
    """Torch: check the current deadline before every ``every``-th module of ``modules`` (an iterable of
    ``nn.Module``, e.g. an encoder's layer list) runs, so a long forward pass stops within a few layers of it.
    Returns the function that removes the hooks. Costs one context-variable read per hooked layer."""

    def hook(_module: object, _args: object) -> None:
        check()

    step = max(1, every)
    handles = [m.register_forward_pre_hook(hook) for i, m in enumerate(modules) if i % step == 0]

    def remove() -> None:
        for handle in handles:
            handle.remove()

    return remove
