"""How many threads each torch operation may use.

The Analyzer runs independent features on ``Settings.workers`` threads at once. Torch's own default gives each
operation every core; on a machine shared with other busy processes that oversubscribes it (OpenMP's threads wait for
each other at every operation's end: 20 decoded Florence-2 tokens took 5.9 CPU-s with 2 intra-op threads and 1.07
with 1 at load 10-13). On a machine of its own, the cores are better used by each operation: the all-features call
took 9.33 s median with 2 threads against 11.81 s with 1 on 2 quiet cores (load 1.4-1.7, interleaved,
benchmarks/perf_targets.md). So the default is every core this process may run on, and ``IMAGELENS_TORCH_THREADS``
sets a number (1 for a busy, shared machine).

Applied by the Analyzer in each thread that runs a feature (:func:`apply`; it never imports torch itself), so a
process that never analyses (a training worker with its own ``training.torch_threads``) keeps its own setting.
"""

from __future__ import annotations

import os
import sys
import threading

_lock = threading.Lock()
_applied: int | None = None


def cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def budget(configured: int = 0) -> int:
    """Intra-op threads per torch operation: ``configured`` when > 0, else every core this process may run on."""
    if configured > 0:
        return configured
    return cores()


def apply(configured: int = 0) -> int | None:
    """Set torch's intra-op threads to :func:`budget` if torch is imported (once per value); the value set, or
    ``None`` when torch is not imported."""
    global _applied
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    threads = budget(configured)
    with _lock:
        if _applied != threads or torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
            _applied = threads
    return threads
