"""How many threads each torch operation may use: the machine's cores shared out among the analysis workers.

The Analyzer runs independent features on ``Settings.workers`` threads at once, and a server runs requests on as many.
If every one of those threads also ran each torch operation on all the cores (torch's default), a 2-core machine
would run 4 busy threads on 2 cores: OpenMP's threads then wait for each other at every operation's end, which on
small operations (each decoded token is hundreds of them) costs far more than the operation. Measured on the
full-size random Florence-2 (benchmarks/perf_targets.md): 20 decoded tokens took 5.9 CPU-s with 2 intra-op threads
and 1.07 CPU-s with 1 on the shared 2-core machine. So torch gets ``cores // workers`` threads per operation (at
least 1) unless ``IMAGELENS_TORCH_THREADS`` sets a number; the parallelism is across features and requests.

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


def budget(workers: int, configured: int = 0) -> int:
    """Intra-op threads per torch operation: ``configured`` when > 0, else the cores divided among ``workers``."""
    if configured > 0:
        return configured
    return max(1, cores() // max(1, workers))


def apply(workers: int, configured: int = 0) -> int | None:
    """Set torch's intra-op threads to :func:`budget` if torch is imported (once per value); the value set, or
    ``None`` when torch is not imported."""
    global _applied
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    threads = budget(workers, configured)
    with _lock:
        if _applied != threads or torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
            _applied = threads
    return threads
