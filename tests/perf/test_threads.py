"""Torch's intra-op threads: every core unless IMAGELENS_TORCH_THREADS says otherwise (imagelens.models.threads)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from imagelens.config import Settings
from imagelens.models import threads


def test_budget_is_every_core_unless_configured() -> None:
    assert threads.budget() == threads.cores() >= 1
    assert threads.budget(configured=3) == 3  # IMAGELENS_TORCH_THREADS wins


def test_apply_sets_torch_threads_and_never_imports_torch() -> None:
    # a fresh interpreter: without torch imported nothing happens; once it is, the budget is set for every thread
    code = """
import sys, threading
from imagelens.models import threads
assert threads.apply(configured=1) is None and "torch" not in sys.modules
import torch
assert threads.apply(configured=1) == 1 and torch.get_num_threads() == 1
seen = []
t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
t.start(); t.join()
assert seen == [1], seen
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_torch_threads_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGELENS_TORCH_THREADS", raising=False)
    assert Settings().torch_threads == 0
    monkeypatch.setenv("IMAGELENS_TORCH_THREADS", "3")
    assert Settings().torch_threads == 3


def test_mmap_threshold_is_capped_unless_off_or_set_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys as _sys

    from imagelens.models import memory

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert memory.cap_mmap_threshold(0) is False
    if _sys.platform.startswith("linux"):
        assert memory.cap_mmap_threshold(32) is True  # glibc's own upper bound: harmless to set in a test
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert memory.cap_mmap_threshold(1) is False  # the deployment's own setting wins
    assert Settings().hub.malloc_mmap_threshold_mib == 16  # the library's default is the server's
