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
import functools
import os
import sys
from pathlib import Path
from typing import Any

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>


_pinned = False


def cap_mmap_threshold(mib: int, pin: bool = False) -> bool:
    """Fix glibc's mmap threshold at ``mib`` MiB; ``False`` when not done (0, not Linux/glibc, the environment
    variable already set, or an earlier ``pin=True`` call: ``imagelens serve`` pins its own value before any request,
    and a model hub created later does not change it under running requests)."""
    global _pinned
    if _pinned or mib <= 0 or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None:  # not Linux with glibc
        return False
    done = bool(mallopt(M_MMAP_THRESHOLD, int(mib) << 20))
    _pinned = done and pin
    return done


def release_free_heap() -> bool:
    """Hand the heap's free memory back to the OS now (glibc ``malloc_trim(0)``: every arena, and free pages in the
    middle of a heap too); ``False`` where this is not glibc.

    Memory freed below the mmap threshold otherwise stays in the heap: after decoding a 9000x9000 16-bit PNG (162 MB)
    a server kept ~58 MB of it in about 1 run in 4 (tests/hardening); the worker pool of ``imagelens serve`` calls
    this each time its last request ends. It costs ~0.25 ms after a cheap call and 12-15 ms after the six heavy
    models ran (full-size random models, 2026-12-03).
    """
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


def _libc_function(name: str) -> Any:
    """A glibc function, or ``None`` where this is not Linux with glibc."""
    libc = _libc()
    return None if libc is None else getattr(libc, name, None)


@functools.cache
def _libc() -> Any:
    """The C library, loaded once: finding it runs ``ldconfig`` (~4 ms), too slow for the server's per-request trim."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


MADV_DONTNEED = 4  # <sys/mman.h> on Linux


def release_clean_file_pages(folder: Path) -> int:
    """Drop from this process's resident set the pages of files under ``folder`` that are memory-mapped and unmodified
    (a checkpoint transformers maps); returns the bytes released (0 where not Linux/glibc).

    Read pages of a mapped file count in the process's RSS for as long as the mapping lives, even once nothing reads
    them again: a model whose fp32 weights were cast or copied at load keeps them resident while any other tensor
    still views the file (SigLIP's text tower, its image tower cast to bf16). ``madvise(MADV_DONTNEED)`` returns
    them; a later read faults them back in from the page cache, so nothing is lost. A mapping with a written private
    page (``Anonymous`` in smaps: a copy-on-write change that only lives in this process) is left alone, since
    dropping it would lose that change.
    """
    madvise = _libc_function("madvise")
    if madvise is None:
        return 0
    root = str(Path(folder).resolve())
    try:
        smaps = Path("/proc/self/smaps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    released = 0
    for start, end, changed in _file_mappings(smaps, root):
        if changed == 0 and madvise(start, end - start, MADV_DONTNEED) == 0:
            released += end - start
    return released


def _file_mappings(smaps: str, root: str) -> list[tuple[int, int, int]]:
    """``(start, end, kB of copy-on-write changed pages)`` of each mapping in ``/proc/self/smaps`` text of a file under
    ``root``."""
    found: list[tuple[int, int, int]] = []
    inside = False
    for line in smaps.splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
            path = head[5] if len(head) == 6 else ""
            inside = path == root or path.startswith(root + os.sep)
            if inside:
                low, high = (int(x, 16) for x in head[0].split("-"))
                found.append((low, high, 0))
        elif inside and line.startswith("Anonymous:"):
            found[-1] = (found[-1][0], found[-1][1], int(line.split()[1]))
    return found
