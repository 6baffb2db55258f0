"""Two real ``imagelens serve`` replicas on one PostgreSQL, as on two hosts: each has its OWN store folder and data
folder (no shared file system). A training job runs in replica A's training child when ONLY A's server process gets
SIGKILL (its child is not killed with it). The child is the job's owner and keeps its lease: it finishes the job on
its own, stores the model (files included) in PostgreSQL and exits 0; replica B never takes the job over (it ran
once), and B serves the model, fetching its files from the database, and deletes it."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import SAMPLE_IMAGE
from ..customize.test_training_data import write_classification
from .test_replicas_e2e import CV, Replica, _http, _kill_group, _ready, _start, _wait_for

PR_SET_CHILD_SUBREAPER = 36
LEASE_S = 8.0


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Make this test process the subreaper of its descendants, so that A's orphaned training child becomes its
    child (its exit code can be read and it is never left as a zombie)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is not available")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture
def hosts(
    pg_url: str, tiny_model_dir: Path, tmp_path: Path, subreaper: None
) -> Iterator[tuple[Replica, Replica, list[int]]]:
    """Replicas A and B, each with its own store and data folder; the test lists in the third item the orphaned
    processes it must reap."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IMAGELENS_") and k not in ("HF_HUB_OFFLINE", "PYTHONPATH")
    }
    from ..conftest import REPO

    base.update(
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]),
        HF_HUB_OFFLINE="1",
        IMAGELENS_DATABASE_URL=pg_url,
        IMAGELENS_MODEL_DIR=str(tiny_model_dir),
        IMAGELENS_HUB__OFFLINE="true",
        # a lease long enough that a starved machine never makes the live child look dead (the take-over itself is
        # tested in test_replicas_e2e); the orphan must renew it for the whole run, or B would take the job over
        IMAGELENS_TRAINING__STALE_AFTER_S=str(LEASE_S),
        IMAGELENS_TRAINING__TORCH_THREADS="1",
        IMAGELENS_WORKERS="2",
    )
    started: list[Replica] = []
    orphans: list[int] = []
    for name in ("A", "B"):
        (tmp_path / name / "data").mkdir(parents=True)
        env = {
            **base,
            "IMAGELENS_DATA_DIR": str(tmp_path / name / "data"),
            "IMAGELENS_STORE_DIR": str(tmp_path / name / "store"),
        }
        started.append(_start(name, tmp_path / name, env))
    try:
        for replica in started:
            _wait_for(lambda r=replica: _ready(r), 90, f"replica {replica.name} to start", started)  # type: ignore[misc]
        yield started[0], started[1], orphans
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.terminate()
                try:
                    replica.process.wait(timeout=20)
                except Exception:
                    _kill_group(replica)
        for replica in started:  # nothing of either replica is left running (an orphan is our child now)
            _kill_group(replica)
        for pid in orphans:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


@pytest.fixture
def store(pg_url: str) -> Iterator[Any]:
    from imagelens.store.pgdb import Database
    from imagelens.store.postgres import PostgresStore

    db = Database.connect(pg_url)
    try:
        yield PostgresStore(db, Path("/nonexistent"))
    finally:
        db.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_killing_only_the_server_lets_its_training_child_finish_once(
    hosts: tuple[Replica, Replica, list[int]], store: Any, tmp_path: Path
) -> None:
    a, b, orphans = hosts
    coco = write_classification(tmp_path / "A" / "data" / "colours", per_class=8)
    dataset = {"annotationKind": "imageClassification", "annotationFileUris": [coco.as_uri()]}
    status, body, _ = _http(
        "PUT", f"{a.url}/computervision/datasets/colours?{CV}", json.dumps(dataset).encode()
    )
    assert status == 200, body
    model = {"trainingParameters": {"trainingDatasetName": "colours", "timeBudgetInHours": 1,
                                    "modelKind": "Generic-Classifier"}}  # fmt: skip
    status, body, _ = _http("PUT", f"{a.url}/computervision/models/clf?{CV}", json.dumps(model).encode())
    assert status == 200, body

    owners: list[str] = []

    def seen(record: Any) -> None:
        if record.owner and record.owner not in owners:
            owners.append(record.owner)

    def child_training() -> bool:
        record = store.get_model("clf")
        assert record.status != "succeeded", "the job finished before the server could be killed"
        seen(record)
        if record.status != "training" or not record.owner or not record.progress.get("stage"):
            return False
        pid = int(record.owner.split(":")[1])
        return pid != a.process.pid and a.in_my_group(pid)

    _wait_for(child_training, 60, "the job to run in A's training child", [a, b])
    child = int(owners[-1].split(":")[1])
    orphans.append(child)
    os.kill(a.process.pid, signal.SIGKILL)  # the server only: its training child lives on
    a.process.wait(timeout=30)
    killed_at = time.monotonic()
    os.kill(child, 0)  # still there

    def finished() -> bool:
        record = store.get_model("clf")
        seen(record)
        return record.status in ("succeeded", "failed", "cancelled")

    _wait_for(finished, 150, "A's orphaned training child to finish the job", [a, b])
    finish_s = time.monotonic() - killed_at
    _, code = os.waitpid(child, 0)  # it exits on its own once the job is done (it is our child now)
    orphans.remove(child)
    assert os.waitstatus_to_exitcode(code) == 0

    record = store.get_model("clf")
    assert record.status == "succeeded" and record.owner is None, record
    assert record.attempts == 1 and owners == [owners[0]], (record, owners)  # ran once, by the child only
    assert "took over" not in b.log()
    child_log = (tmp_path / "A" / "store" / "logs" / "clf.log").read_text()
    assert "is gone; finishing the job here and keeping its lease" in child_log

    # B (another "host": its own, empty store folder) serves the model from the files stored in PostgreSQL
    assert not (tmp_path / "B" / "store" / "models" / "clf").exists()
    status, body, _ = _http("POST", f"{b.url}/computervision/imageanalysis:analyze?{CV}&model-name=clf",
                            SAMPLE_IMAGE.read_bytes(), "application/octet-stream")  # fmt: skip
    assert status == 200, (body, b.log()[-3000:])
    assert body["customModelResult"]["tagsResult"]["values"]
    assert (tmp_path / "B" / "store" / "models" / "clf" / ".imagelens-files.json").exists()

    status, _, _ = _http("DELETE", f"{b.url}/computervision/models/clf?{CV}")
    assert status == 204
    with store.db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM model_files").fetchone()[0] == 0
    assert not (tmp_path / "B" / "store" / "models" / "clf").exists()
    print(f"\nthe orphaned child finished {finish_s:.1f} s after its server's SIGKILL; attempts == 1")
