"""The customization store contract, run against both backends (SQLite and PostgreSQL): the same records, the same
errors, the same compare-and-set and claim rules, atomic replacement of a failed model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
from imagelens.store.base import CustomizationStore, DatasetRecord, EvaluationRecord, ModelRecord
from imagelens.store.sqlite import SQLiteStore
from tests.postgres.conftest import PgServer

T = "2026-12-03T10:00:00Z"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CustomizationStore]:
    if request.param == "sqlite":
        yield SQLiteStore(tmp_path / "store")
        return
    from imagelens.store.pgdb import Database
    from imagelens.store.postgres import PostgresStore

    server: PgServer = request.getfixturevalue("pg_server")
    db = Database.connect(server.new_database())
    try:
        yield PostgresStore(db, tmp_path / "store")
    finally:
        db.close()


def _dataset(name: str = "ds") -> DatasetRecord:
    return DatasetRecord(name, "imageClassification", ("file:///data/a.json",), T, T, {"k": 1})


def _model(name: str = "m", **kw: object) -> ModelRecord:
    fields: dict[str, object] = {"created": T, "updated": T, **kw}
    return ModelRecord(name, "Generic-Classifier", "ds", 1.0, **fields)  # type: ignore[arg-type]


def test_is_a_customization_store(store: CustomizationStore) -> None:
    assert isinstance(store, CustomizationStore)


def test_datasets(store: CustomizationStore) -> None:
    store.create_dataset(_dataset("b"))
    store.create_dataset(_dataset("a"))
    with pytest.raises(ConflictError):
        store.create_dataset(_dataset("a"))
    with pytest.raises(InvalidArgumentError):
        store.create_dataset(_dataset("../x"))
    assert [d.name for d in store.list_datasets()] == ["a", "b"]
    assert store.get_dataset("a") == _dataset("a")
    changed = store.update_dataset("a", annotation_file_uris=["file:///x.json"], custom_properties={"z": "y"})
    assert changed.annotation_file_uris == ("file:///x.json",)
    assert store.get_dataset("a") == changed
    with pytest.raises(InvalidArgumentError):
        store.update_dataset("a", nope=1)
    store.delete_dataset("a")
    for call in (
        lambda: store.get_dataset("a"),
        lambda: store.delete_dataset("a"),
        lambda: store.update_dataset("a"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_models_compare_and_set_and_claim(store: CustomizationStore) -> None:
    store.create_model(_model())
    with pytest.raises(ConflictError):  # still notStarted
        store.create_model(_model())
    assert store.update_model("m", expect={"status": "training"}, progress={"x": 1}) is None
    rec = store.update_model("m", expect={"status": "notStarted"}, status="training", attempts=1)
    assert rec is not None and rec.status == "training" and store.get_model("m") == rec
    assert store.claim_model("m", "me", frozenset({"notStarted"})) is None  # wrong status
    claimed = store.claim_model("m", "me", frozenset({"training"}))
    assert claimed is not None and claimed.owner == "me"
    assert store.claim_model("m", "other", frozenset({"training"})) is None
    assert store.claim_model("m", "me", frozenset({"training"})) is not None  # the owner again: fine
    with pytest.raises(NotFoundError):
        store.claim_model("ghost", "me", frozenset({"training"}))
    with pytest.raises(InvalidArgumentError):
        store.update_model("m", created="x")
    assert [m.name for m in store.list_models()] == ["m"]


def test_failed_model_is_replaced_atomically(store: CustomizationStore) -> None:
    store.create_model(_model(status="failed"))
    store.create_evaluation(EvaluationRecord("m", "e1", "ds", T, T))
    files = store.model_dir("m")
    files.mkdir(parents=True)
    (files / "head.bin").write_bytes(b"old")
    new = _model(created="2026-12-03T11:00:00Z")
    store.create_model(new)
    assert store.get_model("m") == new
    assert store.list_evaluations("m") == []
    assert not files.exists()
    store.update_model("m", status="succeeded")
    with pytest.raises(ConflictError):
        store.create_model(_model())


def test_evaluations_and_cascade(store: CustomizationStore) -> None:
    store.create_model(_model())
    ev = store.create_evaluation(EvaluationRecord("m", "e1", "ds", T, T))
    store.create_evaluation(EvaluationRecord("m", "e0", "ds", T, T))
    with pytest.raises(ConflictError):
        store.create_evaluation(ev)
    assert [e.name for e in store.list_evaluations("m")] == ["e0", "e1"]
    done = store.update_evaluation("m", "e1", status="succeeded", performance={"accuracy": 0.5})
    assert store.get_evaluation("m", "e1") == done
    store.delete_evaluation("m", "e0")
    with pytest.raises(NotFoundError):
        store.delete_evaluation("m", "e0")
    store.delete_model("m")
    assert store.list_evaluations() == []
    with pytest.raises(NotFoundError):
        store.get_model("m")


def test_concurrent_claims_have_one_winner(store: CustomizationStore) -> None:
    store.create_model(_model())
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def claim(who: str) -> None:
        barrier.wait()
        if store.claim_model("m", who, frozenset({"notStarted"})) is not None:
            winners.append(who)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and store.get_model("m").owner == winners[0]
