"""The feedback store contract, run against both backends (SQLite and PostgreSQL): round trip, filters and paging,
retention by age (an injected clock) and by count, purge, and the factory's choice by ``database_url``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError
from imagelens.store import open_feedback
from imagelens.store.feedback import FeedbackStore, SQLiteFeedbackStore, summarize
from tests.postgres.conftest import PgServer

DAY = 86400.0
Factory = Callable[..., FeedbackStore]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Builds stores of one backend on one database: ``make(retention_days=..., max_items=..., clock=...)``."""
    if request.param == "sqlite":
        yield lambda **kw: SQLiteFeedbackStore(tmp_path / "store", **kw)
        return
    from imagelens.store.pg_feedback import PostgresFeedbackStore
    from imagelens.store.pgdb import Database

    server: PgServer = request.getfixturevalue("pg_server")
    db = Database.connect(server.new_database())
    try:
        yield lambda **kw: PostgresFeedbackStore(db, **kw)
    finally:
        db.close()


def _add(store: FeedbackStore, feature: str = "tags", verdict: str = "incorrect", **kw: object) -> str:
    return store.add(feature=feature, verdict=verdict, client="addr:127.0.0.1", **kw).id  # type: ignore[arg-type]


def test_round_trip_filters_and_paging(make: Factory) -> None:
    clock = Clock()
    store = make(clock=clock)
    assert isinstance(store, FeedbackStore)
    item = store.add(
        feature="tags",
        verdict="offensive",
        client="key:abc",
        request_id="r-1",
        value="Cat",
        expected={"value": "dog", "nested": [1, "ü"]},
        comment="wrong animal",
        image_sha256="a" * 64,
    )
    assert store.get(item.id) == item and item.created == clock.now
    assert item.to_json()["createdDateTime"] == "2027-01-15T08:00:00.000Z"
    ids = [item.id]
    for n in range(4):
        clock.now += 1
        ids.append(_add(store, "read" if n % 2 else "caption", "missing"))
    assert [i.id for i in store.list()] == ids[::-1]  # newest first
    assert [i.id for i in store.list(top=2, skip=1)] == ids[::-1][1:3]
    assert [i.id for i in store.list(feature="read")] == [ids[4], ids[2]]
    assert [i.id for i in store.list(verdict="offensive")] == [ids[0]]
    assert [i.id for i in store.list(since=clock.now - 1)] == [ids[4], ids[3]]
    assert store.delete(ids[1]) and not store.delete(ids[1]) and store.get(ids[1]) is None
    assert store.get("no-such-id") is None
    summary = summarize(iter(store.list(top=None)))
    assert summary["total"] == 4 and summary["counts"]["tags"] == {"offensive": 1}
    assert summary["tagCandidates"] == [{"name": "cat", "total": 1, "offensive": 1}]


def test_retention_by_age(make: Factory) -> None:
    clock = Clock()
    store = make(retention_days=1.0, clock=clock)
    old = _add(store)
    clock.now += 0.5 * DAY
    mid = _add(store)
    clock.now += 0.6 * DAY  # `old` is now 1.1 days old: invisible at once, before any write
    assert store.get(old) is None and [i.id for i in store.list()] == [mid]
    assert not store.delete(old)  # as absent for DELETE as for GET
    new = _add(store)  # the write deletes it
    forever = make(retention_days=None, clock=clock)  # the same table, no age limit: it is really gone
    assert [i.id for i in forever.list()] == [new, mid]
    clock.now += 0.5 * DAY
    assert store.purge() == 1  # `mid` past retention
    assert [i.id for i in forever.list()] == [new]
    assert store.purge(before=float("inf")) == 1 and forever.list() == []


def test_retention_by_count_drops_the_oldest(make: Factory) -> None:
    clock = Clock()  # equal timestamps: insertion order still decides which is oldest
    store = make(max_items=3, clock=clock)
    ids = [_add(store) for _ in range(5)]
    assert [i.id for i in store.list()] == ids[:1:-1]
    bigger = make(max_items=2, clock=clock)
    assert bigger.purge() == 1 and [i.id for i in bigger.list()] == ids[:2:-1]


@pytest.mark.parametrize("kw", [{"retention_days": 0}, {"retention_days": -1}, {"max_items": 0}])
def test_bad_retention_settings(make: Factory, kw: dict[str, float]) -> None:
    with pytest.raises(InvalidArgumentError):
        make(**kw)


def test_open_feedback_follows_database_url(pg_server: PgServer, tmp_path: Path) -> None:
    from imagelens.store.pg_feedback import PostgresFeedbackStore
    from imagelens.store.pgdb import close_shared

    url = pg_server.new_database()
    try:
        settings = Settings(store_dir=tmp_path, database_url=url, feedback={"max_items": 7})  # type: ignore[arg-type]
        store = open_feedback(settings)
        assert isinstance(store, PostgresFeedbackStore) and store.max_items == 7
        _add(store)
        assert len(open_feedback(settings).list()) == 1
        assert not (tmp_path / "feedback.sqlite3").exists()
    finally:
        close_shared()
    sqlite = open_feedback(Settings(store_dir=tmp_path))
    assert isinstance(sqlite, SQLiteFeedbackStore) and sqlite.retention_days == 90.0
