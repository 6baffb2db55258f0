"""The Ray engine on a real local Ray (one per session, 2 CPUs): the same rows as the local pool, and an actor
killed with SIGKILL mid-batch has its items retried, none lost, none written twice."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagelens.batch.local import LocalEngine
from imagelens.batch.output import read_rows
from imagelens.batch.runner import run_batch
from imagelens.batch.sources import expand_source
from imagelens.batch.tasks import BatchTask
from imagelens.config import HubSettings, Settings

from .conftest import picture

FEATURES = ("color", "smartCrops")


def _by_source(path: Path) -> dict[str, tuple[Any, ...]]:
    return {r["source"]: (r["status"], r["sha256"], r["result"], r["error"]) for r in read_rows(path)}


def test_ray_rows_equal_the_local_pool_rows(
    ray_cluster: Any, folder: Path, url_list: Path, settings: Settings, tmp_path: Path
) -> None:
    from imagelens.batch.ray_engine import RayEngine

    task = BatchTask("analyze", settings=settings, features=FEATURES)
    items = expand_source(folder) + expand_source(url_list)
    local = run_batch(task, items, tmp_path / "local.jsonl", LocalEngine(1), chunk_size=3)
    remote = run_batch(task, items, tmp_path / "ray.parquet", RayEngine(workers=2), chunk_size=3)
    assert (remote.ok, remote.errors, remote.engine) == (local.ok, local.errors, "ray") == (11, 3, "ray")
    assert _by_source(tmp_path / "ray.parquet") == _by_source(tmp_path / "local.jsonl")


def _actor_pids() -> list[int]:
    import psutil

    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "BatchActor" in cmdline and proc.info["pid"] != os.getpid():
            pids.append(proc.info["pid"])
    return pids


def test_an_actor_killed_mid_batch_loses_nothing_and_writes_nothing_twice(
    ray_cluster: Any, tmp_path: Path, settings: Settings
) -> None:
    from imagelens.batch.ray_engine import RayEngine

    root = tmp_path / "many"
    root.mkdir()
    for i in range(48):
        Image.fromarray(picture(i, (240, 320))).save(root / f"m{i:02d}.png")
    items = expand_source(root)
    task = BatchTask("analyze", settings=settings, features=FEATURES)
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if not killed:
            pids = _actor_pids()
            assert pids, "no batch actor process found"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    out = tmp_path / "out.jsonl"
    report = run_batch(task, items, out, RayEngine(workers=2), chunk_size=2, progress=progress)
    assert killed and report.ok == 48 and report.errors == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["source"] for r in lines) == sorted(items)  # each once: none lost, none twice
    local = run_batch(task, items, tmp_path / "local.jsonl", LocalEngine(1))
    assert local.ok == 48
    assert _by_source(out) == _by_source(tmp_path / "local.jsonl")


def test_a_missing_model_fails_the_ray_run_with_its_own_error(
    ray_cluster: Any, folder: Path, tmp_path: Path
) -> None:
    from imagelens.batch.ray_engine import RayEngine
    from imagelens.errors import ModelUnavailableError

    settings = Settings(
        model_dir=tmp_path / "empty", store_dir=tmp_path / "store", hub=HubSettings(offline=True)
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(ModelUnavailableError, match="siglip2-base-patch16-224"):
        run_batch(BatchTask("index-add", settings=settings), expand_source(folder), out, RayEngine(workers=1))
    assert read_rows(out) == []
