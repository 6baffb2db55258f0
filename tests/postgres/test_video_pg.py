"""The video store contract on both backends (SQLite + the embedded index, PostgreSQL + pgvector), and the video
store on a PostgreSQL that two "replicas" share: one sees the other's indexes, documents and ingestion states,
an ingestion lease is won by one claimer only, and a stale lease is taken over and resumed from its checkpoint."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from imagelens.config import Settings
from imagelens.errors import ConflictError, NotFoundError
from imagelens.numeric import l2_normalise
from imagelens.retrieval.base import EmbeddingModel
from imagelens.video.segments import Segment
from imagelens.video.store import (
    VideoRecord,
    create_video_index,
    drop_video_index,
    list_video_indexes,
    open_video_index,
    video_index_exists,
)

MODEL = EmbeddingModel("tiny", "f" * 16, 8)
T = "2026-12-03T10:00:00.000000Z"


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings(store_dir=tmp_path / "store")
        return
    from imagelens.store.pgdb import close_shared

    url = request.getfixturevalue("pg_url")
    try:
        yield Settings(store_dir=tmp_path / "store", database_url=url)
    finally:
        close_shared()


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(1, 8)).astype(np.float32)
    return l2_normalise(v)[0].astype(np.float32)


def _segments(count: int, seed: int = 0) -> list[Segment]:
    return [Segment(2.0 * n, 2.0 * n + 2, 2.0 * n + 1, _vec(seed + n), 2) for n in range(count)]


def _record(doc: str, url: str = "file:///v.mp4") -> VideoRecord:
    return VideoRecord(doc, url, {"camera": "north"}, {"k": 1}, 10.0, 0, ("w",), T, T)


def test_indexes_and_documents(settings: Settings) -> None:
    index = create_video_index(settings, "cams", MODEL, [{"name": "vision"}], user_data={"a": 1})
    with pytest.raises(ConflictError):
        create_video_index(settings, "cams", MODEL)
    assert create_video_index(settings, "cams", MODEL, exist_ok=True).name == "cams"
    assert list_video_indexes(settings) == ["cams"] and video_index_exists(settings, "cams")
    assert not video_index_exists(settings, "nope") and not video_index_exists(settings, "../x")
    info = index.info()
    assert info["features"][0]["name"] == "vision" and info["userData"] == {"a": 1} and info["documents"] == 0
    assert index.update(user_data={"b": 2})["userData"] == {"b": 2}
    assert index.features() == ["vision"]

    assert index.replace_video(_record("a"), _segments(3)) == 3
    assert index.replace_video(_record("b"), _segments(2, seed=10)) == 2
    rec = index.video("a")
    assert (
        rec is not None
        and rec.segments == 3
        and rec.metadata == {"camera": "north"}
        and rec.user_data == {"k": 1}
    )
    assert rec.warnings == ("w",) and rec.duration_s == 10.0
    assert [r.document_id for r in index.videos()] == ["a", "b"] and index.info()["documents"] == 2
    assert index.matching_videos({"camera": ["north"]}) == ["a", "b"]
    hits = index.search(_vec(1), top=10)
    assert len(hits) == 5 and (hits[0].video, hits[0].start_s) == ("a", 2.0) and hits[0].cosine > 0.99
    assert {h.video for h in index.search(_vec(1), top=10, document_ids=["b"])} == {"b"}
    assert index.search(_vec(1), document_ids=[]) == []
    # replacing with fewer segments leaves none of the old ones behind
    assert index.replace_video(_record("a"), _segments(1, seed=20)) == 1
    assert len(index.search(_vec(1), top=10)) == 3
    assert index.delete_video("a") and not index.delete_video("a") and index.video("a") is None
    reopened = open_video_index(settings, "cams")
    assert [r.document_id for r in reopened.videos()] == ["b"]
    index.close()
    reopened.close()
    drop_video_index(settings, "cams")
    assert list_video_indexes(settings) == []
    with pytest.raises(NotFoundError):
        open_video_index(settings, "cams")
    with pytest.raises(NotFoundError):
        drop_video_index(settings, "cams")


def test_ingestions_and_leases(settings: Settings) -> None:
    index = create_video_index(settings, "jobs", MODEL)
    index.save_ingestion("i1", "NotStarted", {"videos": []})
    index.save_ingestion("i2", "Completed", {"videos": []}, [{"documentId": "x", "succeeded": True}])
    assert [j["name"] for j in index.ingestions()] == ["i1", "i2"]
    assert index.ingestion("i2")["details"] == [{"documentId": "x", "succeeded": True}]  # type: ignore[index]
    assert index.ingestion("nope") is None
    assert index.claim_ingestion("i2", "a", 60) is None  # finished
    job = index.claim_ingestion("i1", "a", 60)
    assert job is not None and job["owner"] == "a"
    assert index.claim_ingestion("i1", "b", 60) is None  # a holds a live lease
    assert index.renew_ingestion("i1", "a") and not index.renew_ingestion("i1", "b")
    assert index.claim_ingestion("i1", "b", 0.0) is not None  # a's lease is stale: taken over
    assert not index.renew_ingestion("i1", "a") and index.ingestion("i1")["owner"] == "b"  # type: ignore[index]
    index.save_ingestion("i1", "Running", {"videos": []})  # a state change keeps the lease
    assert index.ingestion("i1")["owner"] == "b"  # type: ignore[index]
    index.release_ingestion("i1", "a")  # not a's to release
    assert index.ingestion("i1")["owner"] == "b"  # type: ignore[index]
    index.release_ingestion("i1", "b")
    assert index.ingestion("i1")["owner"] is None  # type: ignore[index]
    # a restarted server whose process got the dead one's pid (a container: pid 1 again) takes its fresh lease
    host, pid = socket.gethostname(), os.getpid()
    assert index.claim_ingestion("i1", f"{host}:{pid}:old", 60) is not None
    assert index.claim_ingestion("i1", f"{host}:{pid}:new", 60) is not None
    assert index.claim_ingestion("i1", f"elsewhere:{pid}:x", 60) is None  # another host's live lease
    index.close()


def test_checkpoints_and_publish(settings: Settings) -> None:
    index = create_video_index(settings, "ck", MODEL)
    index.replace_video(_record("v", "file:///old.mp4"), _segments(4, seed=30))
    segs = _segments(5)
    index.save_checkpoint("v", {"next": 2, "time_s": 4.0}, segs[:2])
    index.save_checkpoint("v", {"next": 3, "time_s": 6.0}, segs[2:3])
    assert index.checkpoint("v") == {"next": 3, "time_s": 6.0}
    # a crash between two checkpoints re-saves from the last one: the same numbers, no duplicate
    index.save_checkpoint("v", {"next": 5, "time_s": 10.0, "done": True}, segs[3:])
    index.save_checkpoint("v", {"next": 5, "time_s": 10.0, "done": True}, segs[3:])
    pending = [s for batch in index.pending_segments("v", batch=2) for s in batch]
    assert [s.start_s for s in pending] == [s.start_s for s in segs]
    np.testing.assert_allclose(pending[4].vector, segs[4].vector)
    assert index.video("v").url == "file:///old.mp4"  # type: ignore[union-attr]  # the old one, still whole
    assert len(index.search(_vec(0), top=20)) == 4
    assert index.publish(_record("v", "file:///new.mp4")) == 5
    assert index.checkpoint("v") is None and list(index.pending_segments("v")) == []
    rec = index.video("v")
    assert rec is not None and rec.url == "file:///new.mp4" and rec.segments == 5
    assert len(index.search(_vec(0), top=20)) == 5
    index.save_checkpoint("w", {"next": 1}, segs[:1])
    assert index.delete_video("w") is False and index.checkpoint("w") is None  # deleting forgets a checkpoint
    index.close()


def test_a_second_replica_sees_the_first_ones_indexes(pg_url: str, tmp_path: Path) -> None:
    from imagelens.store.pgdb import Database
    from imagelens.video.pg_store import PostgresVideoIndex

    one, two = Database.connect(pg_url), Database.connect(pg_url)  # two processes' pools
    try:
        info = {"features": [{"name": "vision"}], "created": T, "updated": T}
        a = PostgresVideoIndex.create(one, "shared", MODEL, info)
        b = PostgresVideoIndex.open(two, "shared")
        a.replace_video(_record("v"), _segments(2))
        a.save_ingestion("i", "Running", {"videos": []}, [{"documentId": "v", "succeeded": True}])
        assert [r.document_id for r in b.videos()] == ["v"] and b.ingestion("i")["state"] == "Running"  # type: ignore[index]
        assert len(b.search(_vec(0), top=5)) == 2
        # two replicas claim one ingestion at once: exactly one wins
        a.save_ingestion("race", "NotStarted", {"videos": []})
        barrier, won = threading.Barrier(8), []

        def claim(n: int) -> None:
            index = (a, b)[n % 2]
            barrier.wait()
            if index.claim_ingestion("race", f"r{n}", 60) is not None:
                won.append(n)

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
    finally:
        one.close()
        two.close()
