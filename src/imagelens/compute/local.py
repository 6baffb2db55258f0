"""A bounded thread pool: at most ``workers`` running and ``max_queue`` waiting; beyond that, 429 at once.

Bounding the queue keeps memory flat under load (each waiting request holds its image bytes).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from imagelens.errors import TooManyRequestsError

T = TypeVar("T")


class LocalPool:
    def __init__(self, workers: int = 2, max_queue: int = 16) -> None:
        if workers < 1 or max_queue < 0:
            raise ValueError(f"workers must be >= 1 and max_queue >= 0, got {workers}, {max_queue}")
        self.workers = workers
        self.capacity = workers + max_queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imagelens-work")
        self._lock = threading.Lock()
        self._pending = 0

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._pending >= self.capacity:
                raise TooManyRequestsError(
                    f"The server is busy ({self._pending} requests in progress or queued); retry shortly.",
                    retry_after_s=1,
                )
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, fn)
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
