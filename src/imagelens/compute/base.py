"""The compute contract the server and jobs use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class WorkPool(Protocol):
    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` off the event loop; raise TooManyRequestsError when the queue is full."""
        ...

    @property
    def pending(self) -> int: ...

    def close(self) -> None: ...
