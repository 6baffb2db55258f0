"""Loads and inference must not overlap: the hub's guard."""

from __future__ import annotations

import threading


class UseLoadGuard:
    """Loads exclude inference; inference runs alongside inference.

    transformers builds models on the ``meta`` device while loading, which is not safe while another thread runs a
    model (seen here: "Tensor.item() cannot be called on meta tensors" in a concurrent Florence-2 decode). So a load
    waits until no model is in use, and uses wait until no load runs. A thread already inside ``using()`` that must
    load (an optional model found late) loads without waiting for itself, rather than deadlock.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._users = 0
        self._loading = False
        self._local = threading.local()

    def _depth(self) -> int:
        return getattr(self._local, "depth", 0)

    def acquire_use(self) -> None:
        if self._depth() == 0:
            with self._cond:
                self._cond.wait_for(lambda: not self._loading)
                self._users += 1
        self._local.depth = self._depth() + 1

    def release_use(self) -> None:
        self._local.depth = self._depth() - 1
        if self._depth() == 0:
            with self._cond:
                self._users -= 1
                self._cond.notify_all()

    def acquire_load(self, timeout_s: float) -> bool:
        mine = 1 if self._depth() > 0 else 0  # this thread's own use does not block its load
        with self._cond:
            ok = self._cond.wait_for(lambda: not self._loading and self._users <= mine, timeout=timeout_s)
            if ok:
                self._loading = True
            return ok

    def release_load(self) -> None:
        with self._cond:
            self._loading = False
            self._cond.notify_all()
