"""A bounded thread pool: at most ``workers`` running and ``max_queue`` waiting; beyond that, 429 at once.

Bounding the queue keeps memory flat under load (each waiting request holds its image bytes). A slot stays taken until
the work really ends, not when its caller stops waiting, so abandoned work still counts against the bound.

Memory: ``on_idle`` (``imagelens serve``: :func:`imagelens.models.memory.release_free_heap`) runs in the worker
thread each time the pool's last piece of work ends, so what a large request freed goes back to the OS.

Deadlines: ``run`` carries the caller's context (its :mod:`imagelens.deadline`) into the worker thread and waits at
most until that deadline; past it, or when the caller is cancelled (the client went away), the deadline is cancelled
so the work stops at its next check, and work that has not started yet never starts.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from imagelens import deadline as deadlines
from imagelens.errors import TooManyRequestsError

T = TypeVar("T")

log = logging.getLogger(__name__)


class LocalPool:
    def __init__(
        self,
        workers: int = 2,
        max_queue: int = 16,
        *,
        name: str = "imagelens-work",
        on_idle: Callable[[], object] | None = None,
    ) -> None:
        if workers < 1 or max_queue < 0:
            raise ValueError(f"workers must be >= 1 and max_queue >= 0, got {workers}, {max_queue}")
        self.workers = workers
        self.capacity = workers + max_queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._pending = 0
        self._on_idle = on_idle
        self.rejected = 0
        """Requests answered 429 because the queue was full (read by the metrics)."""

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def full(self) -> bool:
        return self._pending >= self.capacity

    def _reserve(self) -> None:
        with self._lock:
            if self._pending >= self.capacity:
                self.rejected += 1
                raise TooManyRequestsError(
                    f"The server is busy ({self._pending} requests in progress or queued); retry shortly.",
                    retry_after_s=1,
                )
            self._pending += 1

    def _release(self, _future: object = None) -> None:
        with self._lock:
            self._pending -= 1
            idle = self._pending == 0
        if idle and self._on_idle is not None:
            try:
                self._on_idle()
            except Exception:  # housekeeping never fails the work it follows
                log.exception("the pool's idle hook failed")

    def _submit(self, fn: Callable[[], T], context: contextvars.Context) -> Future[T]:
        """Submit with a reserved slot; the slot is released when the work ends (or is cancelled unstarted)."""
        try:
            future = self._executor.submit(context.run, fn)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._release)
        return future

    async def run(self, fn: Callable[[], T]) -> T:
        self._reserve()
        future = self._submit(fn, contextvars.copy_context())
        waiter = asyncio.wrap_future(future)
        waiter.add_done_callback(_retrieve)  # abandoned work's late error is not "never retrieved"
        deadline = deadlines.current()
        try:
            if deadline is None:
                return await waiter
            done, _ = await asyncio.wait({waiter}, timeout=deadline.remaining())
            if not done:  # the deadline has passed: the worker stops at its next check
                future.cancel()  # or never starts
                raise deadline.timeout_error()
            return waiter.result()
        except asyncio.CancelledError:
            if deadline is not None:
                deadline.cancel()
            future.cancel()
            raise

    def start(self, fn: Callable[[], object], budget_s: float) -> asyncio.Task[None]:
        """Background work (an accepted long-running operation): the slot is taken NOW (429 if none), so a caller
        that answered 202 knows the work will run. It gets its own deadline of ``budget_s``, not the request's."""
        self._reserve()
        own = deadlines.Deadline(budget_s)

        def bounded() -> object:
            with deadlines.bound(own):
                return fn()

        future = self._submit(bounded, contextvars.copy_context())

        async def wait() -> None:
            waiter = asyncio.wrap_future(future)
            waiter.add_done_callback(_retrieve)
            done, _ = await asyncio.wait({waiter}, timeout=budget_s)
            if not done:
                future.cancel()

        return asyncio.get_running_loop().create_task(wait())

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
