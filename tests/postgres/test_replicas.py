"""Two server replicas on one PostgreSQL, each with its own connection pool: every job claimed exactly once
(``FOR UPDATE SKIP LOCKED``), a dead replica's job taken over when its lease runs out, operations readable from
either replica; and the schema migrations."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelens.errors import ConflictError, InvalidArgumentError
from imagelens.store.base import ModelRecord
from imagelens.store.pg_operations import PostgresOperationStore
from imagelens.store.pgdb import MIGRATIONS, SCHEMA_VERSION, Database
from imagelens.store.postgres import PostgresStore


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    a, b = Database.connect(pg_url), Database.connect(pg_url)
    try:
        yield PostgresStore(a, tmp_path / "files"), PostgresStore(b, tmp_path / "files")
    finally:
        a.close()
        b.close()


def _job(name: str, created: str) -> ModelRecord:
    return ModelRecord(name, "Generic-Classifier", "ds", 1.0, created, created)


def test_no_job_is_claimed_twice(replicas: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = replicas
    for i in range(24):
        a.create_model(_job(f"job{i:02d}", f"2026-12-03T10:00:{i:02d}Z"))
    claims: list[tuple[str, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(store: PostgresStore, me: str) -> None:
        barrier.wait()
        while (job := store.claim_next(me, lease_s=60.0)) is not None:
            with lock:
                claims.append((job.name, me))

    threads = [
        threading.Thread(target=worker, args=(store, f"{tag}{i}"))
        for i in range(4)
        for tag, store in (("a", a), ("b", b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = [name for name, _ in claims]
    assert sorted(names) == [f"job{i:02d}" for i in range(24)]  # each exactly once
    assert {m.name: m.owner for m in b.list_models()} == dict(claims)  # both replicas see the same owners
    assert {who[0] for _, who in claims} == {"a", "b"}  # both replicas took part


def test_a_dead_replicas_job_is_taken_over(replicas: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = replicas
    a.create_model(_job("m", "2026-12-03T10:00:00Z"))
    mine = a.claim_next("replica-a", lease_s=0.5)
    assert mine is not None and mine.owner == "replica-a"
    a.update_model("m", expect={"owner": "replica-a"}, status="training", heartbeat=time.time())
    assert b.claim_next("replica-b", lease_s=0.5) is None  # the lease is fresh
    time.sleep(0.6)  # replica a "dies": no heartbeat
    taken = b.claim_next("replica-b", lease_s=0.5)
    assert taken is not None and taken.owner == "replica-b" and taken.status == "training"
    # the dead replica's late writes fail their compare-and-set
    assert a.update_model("m", expect={"owner": "replica-a"}, status="succeeded") is None
    assert a.get_model("m").owner == "replica-b"
    # finished jobs are never claimed
    b.update_model("m", expect={"owner": "replica-b"}, status="succeeded", owner=None)
    assert a.claim_next("replica-a", lease_s=0.0) is None


def test_operations_are_shared(pg_url: str) -> None:
    now = [1000.0]
    a, b = Database.connect(pg_url), Database.connect(pg_url)
    try:
        ops_a = PostgresOperationStore(a, ttl_s=100.0, max_items=3, clock=lambda: now[0])
        ops_b = PostgresOperationStore(b, ttl_s=100.0, max_items=3, clock=lambda: now[0])
        ops_a.create("read", "op1")
        with pytest.raises(ConflictError):
            ops_b.create("read", "op1")
        ops_a.mark_running("read", "op1")
        assert ops_b.get("read", "op1").status == "running"  # type: ignore[union-attr]
        ops_a.succeed("read", "op1", {"analyzeResult": {"lines": ["héllo"]}})
        got = ops_b.get("read", "op1")
        assert (
            got is not None
            and got.status == "succeeded"
            and got.result == {"analyzeResult": {"lines": ["héllo"]}}
        )
        ops_b.fail("read", "op1", {"code": "X", "message": "m"})
        assert ops_a.get("read", "op1").error == {"code": "X", "message": "m"}  # type: ignore[union-attr]
        for i in range(2, 6):  # max_items=3 per kind: the oldest go; another kind is untouched
            now[0] += 1
            ops_a.create("read", f"op{i}")
        ops_a.create("run", "r1")
        assert [op.id for op in ops_b.list("read")] == ["op3", "op4", "op5"]
        assert ops_b.count("run") == 1 and ops_b.count() == 4 and len(ops_b) == 4
        assert ops_b.delete("read", "op3") and not ops_b.delete("read", "op3")
        ops_a.succeed("read", "op3", {"late": True})  # a deleted operation stays gone
        assert not ops_a.exists("read", "op3")
        now[0] += 101  # all expired
        assert ops_b.get("read", "op5") is None and ops_b.count() == 0
    finally:
        a.close()
        b.close()


def test_migrations_once_and_never_downgrade(pg_url: str) -> None:
    db = Database.connect(pg_url)
    try:
        assert db.schema_version() == SCHEMA_VERSION
        assert db.migrate() == 0  # already applied
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO imagelens_schema (version, name) VALUES (%s, 'future')", (SCHEMA_VERSION + 1,)
            )
        with pytest.raises(InvalidArgumentError, match="newer than this imagelens"):
            db.migrate()
    finally:
        db.close()


def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    dbs: list[Database] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            dbs.append(Database.connect(pg_url))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors and len(dbs) == 3
        with dbs[0].transaction() as conn:
            rows = conn.execute("SELECT version FROM imagelens_schema ORDER BY version").fetchall()
        assert [r[0] for r in rows] == sorted(v for v, _, _ in MIGRATIONS)
    finally:
        for db in dbs:
            db.close()


def test_a_running_replica_takes_over_a_dead_replicas_training(pg_url: str, tmp_path: Path) -> None:
    """Replica B's lease watcher finds the job replica A (another host) stopped renewing, wins it once, and its
    worker claims and runs it (here it fails at once: its dataset is not registered, so no model is needed)."""
    from imagelens.config import Settings
    from imagelens.customize.jobs import JobManager
    from imagelens.customize.leases import LeaseWatcher
    from imagelens.models.hub import ModelHub

    settings = Settings(store_dir=tmp_path / "files", database_url=pg_url)
    a, b = Database.connect(pg_url), Database.connect(pg_url)
    try:
        store_a, store_b = PostgresStore(a, tmp_path / "files"), PostgresStore(b, tmp_path / "files")
        store_a.create_model(_job("m", "2026-12-03T10:00:00Z"))
        dead = "replica-a-host:4242:0dead"
        store_a.update_model("m", status="training", owner=dead, heartbeat=time.time() - 3600, attempts=1)
        managers = [
            JobManager(s, settings, ModelHub(settings), isolation="thread") for s in (store_a, store_b)
        ]
        watchers = [LeaseWatcher(m, every_s=60) for m in managers]
        results: list[list[str]] = []
        barrier = threading.Barrier(2)

        def check(w: LeaseWatcher) -> None:
            barrier.wait()
            results.append(w.check_once())

        threads = [threading.Thread(target=check, args=(w,)) for w in watchers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [[], ["m"]]  # exactly one replica took it over
        for m in managers:
            assert m.wait_idle(60)
            m.close()
        record = store_b.get_model("m")
        assert record.status == "failed" and record.owner is None and record.attempts == 2
        assert "ds" in (record.error or {}).get("message", "")
        assert store_a.update_model("m", expect={"owner": dead}, status="succeeded") is None
    finally:
        a.close()
        b.close()


def test_a_handed_over_job_is_claimed_even_when_its_row_is_locked_for_an_instant(
    pg_url: str, tmp_path: Path
) -> None:
    """``claim_model`` skips a row another transaction holds (``SKIP LOCKED``): a lease watcher's losing
    compare-and-set can hold it just when the winner's worker claims. The worker tries again, so the job runs
    instead of staying "training" with no owner and nobody to run it."""
    from imagelens.config import Settings
    from imagelens.customize.jobs import JobManager
    from imagelens.models.hub import ModelHub

    settings = Settings(store_dir=tmp_path / "files", database_url=pg_url)
    a, b = Database.connect(pg_url), Database.connect(pg_url)
    try:
        store_a = PostgresStore(a, tmp_path / "files")
        store_a.create_model(_job("m", "2026-12-03T10:00:00Z"))
        store_a.update_model("m", status="training", owner=None, attempts=1)  # handed over: nobody owns it
        manager = JobManager(store_a, settings, ModelHub(settings), isolation="thread")
        finished: list[ModelRecord] = []
        with b.transaction() as other:
            other.execute("SELECT 1 FROM models WHERE name = %s FOR UPDATE", ("m",))
            worker = threading.Thread(target=lambda: finished.append(manager.run_training("m")))
            worker.start()
            time.sleep(0.2)  # the worker's first claim meets the lock
        worker.join(30)
        manager.close()
        record = store_a.get_model("m")
        assert record.status == "failed" and record.owner is None and record.attempts == 2
        assert "ds" in (record.error or {}).get("message", "")
    finally:
        a.close()
        b.close()
