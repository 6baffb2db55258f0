"""glibc malloc: large allocations from ``mmap``, so that freed tensor memory goes back to the OS.

glibc serves an allocation from ``mmap`` only above its mmap threshold, and raises that threshold (up to 32 MiB)
each time a large block is freed; later tensors then come from the heap, which keeps freed memory. A process that
loads models and runs them grows call after call. Fixing the threshold (``mallopt(M_MMAP_THRESHOLD)``, the same as
the ``MALLOC_MMAP_THRESHOLD_`` environment variable) keeps the resident memory flat. The default, 16 MiB
(:data:`imagelens.config.DEFAULT_MMAP_THRESHOLD_MIB`, the library and ``imagelens serve`` alike), measured on the
full-size random models (benchmarks/perf_targets.md, 2026-12-03, 5 calls each, interleaved): six features 6.04-6.6 s
median, peak 2,158-2,192 MB, RSS flat at 1.8 GB after each call; glibc's own behaviour 5.66-6.11 s, peak 2,240-2,356
MB, RSS 2.0-2.2 GB and drifting; 1 MiB (the earlier default) 8.8 s: every tensor over 1 MiB was a new mapping whose
pages fault in, and Florence-2's vision encoding alone took 3.5 s instead of 1.9 s.
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
