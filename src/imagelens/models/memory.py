"""glibc malloc: large allocations from ``mmap``, so that freed tensor memory goes back to the OS.

glibc serves an allocation from ``mmap`` only above its mmap threshold, and raises that threshold (up to 32 MiB)
each time a large block is freed; later tensors then come from the heap, which keeps freed memory. A process that
loads models and runs them grows call after call. Fixing the threshold (``mallopt(M_MMAP_THRESHOLD)``, the same as
the ``MALLOC_MMAP_THRESHOLD_`` environment variable) keeps the resident memory flat: measured on the full-size random
models (benchmarks/perf_targets.md), the six-feature process peaked at 3,093 MB without it and 2,397-2,492 MB with
1 MiB, for about 10 % more CPU per call.
``IMAGELENS_HUB__MALLOC_MMAP_THRESHOLD_MIB`` (0: leave glibc alone); an explicit ``MALLOC_MMAP_THRESHOLD_`` wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>


_pinned = False


def cap_mmap_threshold(mib: int, pin: bool = False) -> bool:
    """Fix glibc's mmap threshold at ``mib`` MiB; ``False`` when not done (0, not Linux/glibc, the environment
    variable already set, or an earlier ``pin=True`` call: ``imagelens serve`` pins its own value before any request,
    and a model hub created later does not change it under running requests)."""
    global _pinned
    if _pinned or mib <= 0 or not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:  # not glibc
        return False
    done = bool(mallopt(M_MMAP_THRESHOLD, int(mib) << 20))
    _pinned = done and pin
    return done
