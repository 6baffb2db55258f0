"""Per-client rate admission: one token bucket per client, checked by the guard before a request's body is read.

A client is its access key when keys are configured (every admitted request carries a valid one), else its remote
address. Each bucket holds at most ``burst`` tokens and refills at ``rate_per_s``; a request takes one token, and a
client with none left gets Azure's 429 with ``Retry-After`` = the seconds until its next token (rounded up).

Memory is bounded: at most ``max_clients`` buckets, least recently used dropped first (a dropped client starts again
with a full bucket, the same as one that stayed away long enough to refill). A flood of distinct addresses therefore
costs a fixed table, never a growing one.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["TokenBuckets", "client_id"]


def client_id(key: bytes, address: str | None) -> str:
    """How a client is named: ``key:<sha256 prefix>`` of its access key (the key itself is never kept), else
    ``addr:<address>``."""
    if key:
        return "key:" + hashlib.sha256(key).hexdigest()[:32]
    return "addr:" + (address or "unknown")


class TokenBuckets:
    """``take(client)``: ``0.0`` when admitted (a token taken), else the seconds until the client's next token."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or max_clients < 1:
            raise ValueError(
                f"rate_per_s must be > 0, burst and max_clients >= 1; got {rate_per_s}, {burst}, {max_clients}"
            )
        self.rate_per_s = float(rate_per_s)
        self.burst = int(burst)
        self.max_clients = int(max_clients)
        self._clock = clock
        self._lock = threading.Lock()
        # client -> (tokens, when they were counted); most recently used last
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> float:
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate_per_s)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate_per_s
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait_s: float) -> int:
        """The ``Retry-After`` header's whole seconds for a wait (at least 1)."""
        return max(1, math.ceil(wait_s))
