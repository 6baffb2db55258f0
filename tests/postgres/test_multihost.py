"""Replicas on different hosts, without a shared folder (issue 18): two stores on one PostgreSQL database with
DIFFERENT store folders stand for two hosts. A model's files go into the database with its ``succeeded`` status and
are fetched (once, verified, atomically) by a host that lacks them; deleting the model removes them everywhere."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagelens.errors import NotFoundError
from imagelens.store.base import ModelRecord
from imagelens.store.pg_blobs import MARKER, ModelFilesUnavailableError
from imagelens.store.pgdb import Database
from imagelens.store.postgres import PostgresStore


@pytest.fixture
def hosts(pg_url: str, tmp_path: Path) -> Iterator[list[PostgresStore]]:
    """Three "hosts": each its own connection pool and its own store folder."""
    dbs = [Database.connect(pg_url) for _ in range(3)]
    try:
        yield [PostgresStore(db, tmp_path / f"host{i}") for i, db in enumerate(dbs)]
    finally:
        for db in dbs:
            db.close()


def _publish(store: PostgresStore, name: str, files: dict[str, bytes], chunk_bytes: int = 0) -> ModelRecord:
    """A model "trained" on ``store``'s host: its folder written, then marked succeeded by its owner."""
    store.create_model(ModelRecord(name, "Generic-Classifier", "ds", 1.0, "2026-12-03T10:00:00Z", "x"))
    assert store.claim_model(name, "trainer", frozenset({"notStarted"})) is not None
    folder = store.model_dir(name)
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    record = store.update_model(name, expect={"owner": "trainer"}, status="succeeded", owner=None)
    assert record is not None
    return record


def _rows(store: PostgresStore, name: str) -> int:
    with store.db.transaction() as conn:
        row = conn.execute("SELECT count(*) FROM model_files WHERE model_name = %s", (name,)).fetchone()
    return int(row[0]) if row else 0


FILES = {"head.npz": bytes(range(256)) * 11, "sub/config.json": b'{"classes": ["a", "b"]}', "empty.bin": b""}


def test_files_are_stored_with_the_status_and_fetched_on_another_host(
    hosts: list[PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, _ = hosts
    monkeypatch.setattr("imagelens.store.pg_blobs.CHUNK_BYTES", 1000)  # several chunks per file
    record = _publish(a, "m", FILES)
    manifest = record.info["files"]
    assert manifest["bytes"] == sum(len(v) for v in FILES.values()) and len(manifest["sha256"]) == 64
    assert {f["path"]: f["chunks"] for f in manifest["files"]} == {
        "empty.bin": 0,
        "head.npz": 3,
        "sub/config.json": 1,
    }
    assert _rows(a, "m") == 4
    assert (a.model_dir("m") / MARKER).exists()  # the training host's folder is the stored version
    assert a.model_files(record) == a.model_dir("m")  # nothing to fetch there

    seen = b.get_model("m")
    assert seen.info["files"] == manifest and not b.model_dir("m").exists()
    folder = b.model_files(seen)
    assert folder == b.model_dir("m")
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == {
        **FILES,
        MARKER: (folder / MARKER).read_bytes(),
    }
    assert not [
        p for p in (b.root / "models").iterdir() if p.name.startswith(".")
    ]  # no temporary folder left

    # a late write of an owner that lost the job stores nothing
    _publish(a, "n", {"x": b"1"})
    assert a.update_model("n", expect={"owner": "gone"}, status="succeeded") is None

    # deleted on B: the rows go, B's folder goes; A no longer finds the model and prunes its copy
    b.delete_model("m")
    assert _rows(a, "m") == 0 and not b.model_dir("m").exists()
    with pytest.raises(NotFoundError):
        a.get_model("m")
    assert a.prune_local_files() == ["m"] and not a.model_dir("m").exists()
    assert a.model_dir("n").exists() and a.prune_local_files() == []  # a live model's folder stays


def test_an_older_copy_is_replaced_by_the_current_version(hosts: list[PostgresStore]) -> None:
    a, b, _ = hosts
    _publish(a, "m", {"w.bin": b"old"})
    b.model_files(b.get_model("m"))
    assert (b.model_dir("m") / "w.bin").read_bytes() == b"old"
    # the model is deleted and trained again on A under the same name
    a.delete_model("m")
    a.remove_model_files("m")
    _publish(a, "m", {"w.bin": b"new!", "extra.bin": b"e"})  # another hash: B's copy is stale
    fresh = b.get_model("m")
    folder = b.model_files(fresh)
    assert (folder / "w.bin").read_bytes() == b"new!" and (folder / "extra.bin").read_bytes() == b"e"
    # a trainer starting on B under the name clears the fetched copy of another version first
    b.clear_stale_model_dir(ModelRecord("m", "Generic-Classifier", "ds", 1.0, "2026-12-03T12:00:00Z", "x"))
    assert not b.model_dir("m").exists()


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_damaged_or_missing_chunk_is_a_clear_error(hosts: list[PostgresStore], damage: str) -> None:
    a, b, _ = hosts
    _publish(a, "m", FILES)
    with a.db.transaction() as conn:
        if damage == "corrupt":
            conn.execute("UPDATE model_files SET data = 'garbage'::bytea WHERE path = 'head.npz'")
        else:
            conn.execute("DELETE FROM model_files WHERE path = 'sub/config.json'")
    with pytest.raises(ModelFilesUnavailableError) as caught:
        b.model_files(b.get_model("m"))
    error = caught.value
    assert error.status == 503 and error.to_azure()["error"]["innererror"]["code"] == "ModelUnavailable"
    assert ("damaged" if damage == "corrupt" else "chunk 0 of 'sub/config.json' is missing") in error.message
    assert "train the model again" in error.message
    assert not b.model_dir("m").exists()  # nothing half-written
    assert not [p for p in (b.root / "models").iterdir() if p.name.startswith(".fetch")]


def test_concurrent_requests_on_one_host_fetch_once(
    pg_url: str, hosts: list[PostgresStore], caplog: pytest.LogCaptureFixture
) -> None:
    a, _, c = hosts
    _publish(a, "m", FILES)
    other = Database.connect(pg_url)  # a second process on host "c": same folder, its own pool
    try:
        c2 = PostgresStore(other, c.root)
        record = c.get_model("m")
        results: list[Any] = []
        barrier = threading.Barrier(8)

        def fetch(store: PostgresStore) -> None:
            barrier.wait()
            results.append(store.model_files(record))

        threads = [threading.Thread(target=fetch, args=(s,)) for s in (c, c2) * 4]
        with caplog.at_level(logging.INFO, logger="imagelens.store"):
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert results == [c.model_dir("m")] * 8
        assert sum("fetched the files of model m" in r.getMessage() for r in caplog.records) == 1
    finally:
        other.close()


def test_a_model_trained_on_host_a_predicts_on_host_b(
    pg_url: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A real (tiny) classifier trained by a JobManager on A, used on B, deleted on B."""
    from imagelens.config import Settings
    from imagelens.customize.job_state import new_model_record, utc_now
    from imagelens.customize.jobs import JobManager
    from imagelens.customize.predict import predict
    from imagelens.models.hub import ModelHub
    from imagelens.store import DatasetRecord

    from ..customize.test_training_data import COLOURS, colour_image, make_settings, write_classification

    settings: list[Settings] = [make_settings(tiny_model_dir, tmp_path / h, torch_threads=1) for h in "ab"]  # type: ignore[misc]
    dbs = [Database.connect(pg_url) for _ in "ab"]
    try:
        a, b = (PostgresStore(db, s.store_dir or tmp_path) for db, s in zip(dbs, settings, strict=True))
        assert settings[0].data_dir is not None
        coco = write_classification(settings[0].data_dir, per_class=4)
        now = utc_now()
        a.create_dataset(DatasetRecord("colours", "imageClassification", (str(coco),), now, now))
        a.create_model(new_model_record("cls", "Generic-Classifier", "colours", 1.0))
        hub_a, hub_b = ModelHub(settings[0]), ModelHub(settings[1])
        record = JobManager(a, settings[0], hub_a, isolation="thread").run_training("cls")
        assert record.status == "succeeded", record.error
        assert record.info["files"]["files"] and _rows(a, "cls") >= 1

        rgb = colour_image(COLOURS["green"], np.random.default_rng(7))
        on_b = predict(hub_b, b, "cls", rgb)
        on_a = predict(hub_a, a, "cls", rgb)
        assert on_b.tags and [t.name for t in on_b.tags] == [t.name for t in on_a.tags]
        assert np.allclose([t.confidence for t in on_b.tags], [t.confidence for t in on_a.tags])
        assert (b.model_dir("cls") / MARKER).exists()

        b.delete_model("cls")
        assert _rows(b, "cls") == 0 and not b.model_dir("cls").exists()
        with pytest.raises(NotFoundError):
            predict(hub_a, a, "cls", rgb)  # A no longer serves it
        assert a.prune_local_files() == ["cls"]
    finally:
        for db in dbs:
            db.close()


def test_a_job_taken_over_on_another_host_trains_there_from_scratch(
    pg_url: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Host A died mid-job; its checkpoints were in A's folder. Host B's lease watcher takes the job over and
    trains it from scratch in B's folder (the annotation file lies on a path both hosts read); the files it stores
    are then fetched by A when A comes back."""
    from imagelens.config import Settings
    from imagelens.customize.job_state import new_model_record, utc_now
    from imagelens.customize.jobs import JobManager
    from imagelens.customize.leases import LeaseWatcher
    from imagelens.models.hub import ModelHub
    from imagelens.store import DatasetRecord

    from ..customize.test_training_data import make_settings, write_classification

    shared = tmp_path / "shared"
    coco = write_classification(shared, per_class=4)
    settings: list[Settings] = [
        make_settings(tiny_model_dir, tmp_path / h, torch_threads=1).model_copy(update={"data_dir": shared})  # type: ignore[attr-defined]
        for h in "ab"
    ]
    dbs = [Database.connect(pg_url) for _ in "ab"]
    try:
        a, b = (PostgresStore(db, s.store_dir or tmp_path) for db, s in zip(dbs, settings, strict=True))
        now = utc_now()
        a.create_dataset(DatasetRecord("colours", "imageClassification", (str(coco),), now, now))
        a.create_model(new_model_record("cls", "Generic-Classifier", "colours", 1.0))
        a.update_model("cls", status="training", owner="host-a:4242:dead", heartbeat=1.0, attempts=1,
                       training_seconds=5.0, progress={"stage": "embedding"})  # fmt: skip
        (a.work_dir("cls") / "partial.bin").parent.mkdir(parents=True)
        (a.work_dir("cls") / "partial.bin").write_bytes(b"A's checkpoint")
        manager = JobManager(b, settings[1], ModelHub(settings[1]), isolation="thread")
        try:
            assert LeaseWatcher(manager, every_s=60).check_once() == ["cls"]
            assert manager.wait_idle(120)
        finally:
            manager.close()
        record = b.get_model("cls")
        assert record.status == "succeeded", record.error
        assert record.attempts == 2 and record.training_seconds > 5.0 and record.owner is None
        assert not b.work_dir("cls").exists()  # B's own (fresh) work folder, removed when the job ended
        folder = a.model_files(record)  # A, back, fetches what B trained
        assert (folder / MARKER).exists() and sorted(p.name for p in folder.iterdir()) == sorted(
            p.name for p in b.model_dir("cls").iterdir()
        )
    finally:
        for db in dbs:
            db.close()
