"""``imagelens index rebuild`` on pgvector: every image re-embedded with the current model into a fresh table, swapped
in one transaction. Searches during the rebuild answer from the old vectors; a failed rebuild leaves the index as it
was; an index object opened before the swap refuses once (ConflictError) and then uses the new model. Real
PostgreSQL + pgvector, a tiny random SigLIP through the real hub."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imagelens.analyzer import Analyzer
from imagelens.config import HubSettings, Settings
from imagelens.errors import ConflictError
from imagelens.retrieval import search as rs
from imagelens.retrieval.base import Document, EmbeddingModel
from imagelens.retrieval.ingest import rebuild
from imagelens.retrieval.pgvector import PgVectorIndex
from imagelens.retrieval.vectorize import model_of

N = 6


@pytest.fixture
def analyzer(tiny_model_dir: Path, pg_url: str, tmp_path: Path) -> Any:
    from imagelens.store.pgdb import close_shared

    settings = Settings(
        model_dir=tiny_model_dir,
        hub=HubSettings(offline=True),
        database_url=pg_url,
        store_dir=tmp_path / "store",
    )
    analyzer = Analyzer(settings)
    yield analyzer
    analyzer.close()
    close_shared()


def _pictures(root: Path) -> list[Path]:
    root.mkdir()
    paths = []
    for i in range(N):
        rng = np.random.default_rng(i)
        img = rng.integers(0, 255, (56 + 8 * i, 64, 3), dtype=np.uint8)
        paths.append(root / f"p{i}.png")
        Image.fromarray(img).save(paths[-1])
    return paths


def _stale_index(analyzer: Analyzer, paths: list[Path], dim: int) -> tuple[PgVectorIndex, np.ndarray]:
    """An index made with other weights (a different fingerprint, ``dim`` dimensions): random vectors, ids
    ``img<i>`` and user fields, each document pointing at a real image."""
    real = model_of(analyzer.hub.embedder())
    stale = EmbeddingModel(real.model_id, "0" * 64, dim)
    index = rs.create_index(analyzer.settings, "photos", stale)
    assert isinstance(index, PgVectorIndex)
    vecs = np.random.default_rng(9).standard_normal((N, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    docs = [Document(f"img{i}", vecs[i], uri=str(p), fields={"n": i}) for i, p in enumerate(paths)]
    index.upsert(docs, stale)
    return index, vecs


def _tables(index: PgVectorIndex) -> list[str]:
    with index.db.transaction() as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'retrieval_ix_%' ORDER BY 1"
        )
        return [r[0] for r in rows]


def test_rebuild_swaps_in_new_vectors_and_searches_answer_from_the_old_ones_meanwhile(
    analyzer: Analyzer, tmp_path: Path
) -> None:
    real = model_of(analyzer.hub.embedder())
    paths = _pictures(tmp_path / "photos")
    index, old = _stale_index(analyzer, paths, real.dim + 8)  # the new model has another dimension too
    reader = rs.open_index(analyzer.settings, "photos")  # a server's index, opened before the rebuild
    assert isinstance(reader, PgVectorIndex)
    before, stale = reader.search(old[2], top=3), index.model
    during: list[Any] = []

    def progress(done: int, total: int) -> None:  # mid-rebuild: the old index still answers, unchanged
        during.append((reader.search(old[2], top=3), rs.open_index(analyzer.settings, "photos").model))

    # and another reader searching in a loop through the swap: the old answer until the swap, then one refusal
    looping = rs.open_index(analyzer.settings, "photos")
    seen: list[Any] = []
    stop = threading.Event()

    def search_loop() -> None:
        while not stop.is_set():
            try:
                seen.append(looping.search(old[2], top=3))
            except Exception as exc:
                seen.append(exc)
                return

    thread = threading.Thread(target=search_loop)
    thread.start()
    try:
        fresh, report = rebuild(analyzer, index, batch_size=2, progress=progress)
    finally:
        time.sleep(0.5)
        stop.set()
        thread.join(10)
    assert len(seen) > 1 and all(hits == before for hits in seen[:-1])
    assert isinstance(seen[-1], ConflictError), seen[-1]
    assert len(during) == 3 and all(hits == before and model == stale for hits, model in during)
    assert before[0][0] == "img2"
    assert (report.added, report.skipped) == (N, [])
    assert fresh.model == real and rs.open_index(analyzer.settings, "photos").model == real
    assert sorted(fresh.document_ids()) == [f"img{i}" for i in range(N)]  # ids and fields kept
    got = fresh.get("img3")
    assert got is not None and got.fields == {"n": 3} and got.uri == str(paths[3])
    query = analyzer.vectorize_image(paths[3].read_bytes()).vector
    assert fresh.search(query, top=1)[0][0] == "img3"
    assert _tables(fresh) == [fresh.table]  # the rebuild's table became the index's, nothing left over
    # the object opened before the swap refuses once (its query came from the old model), then follows
    with pytest.raises(ConflictError, match="rebuilt with siglip2"):
        reader.search(old[2], top=3)
    assert reader.model == real and reader.search(query, top=1)[0][0] == "img3"


def test_a_failed_rebuild_leaves_the_index_as_it_was(analyzer: Analyzer, tmp_path: Path) -> None:
    real = model_of(analyzer.hub.embedder())
    paths = _pictures(tmp_path / "photos")
    index, old = _stale_index(analyzer, paths, real.dim)
    before = [(d.document_id, d.vector.tolist(), d.fields) for d in index.documents()]

    def progress(done: int, total: int) -> None:
        if done >= 4:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        rebuild(analyzer, index, batch_size=2, progress=progress)
    again = rs.open_index(analyzer.settings, "photos")
    assert isinstance(again, PgVectorIndex)
    assert again.model == index.model != real
    assert [(d.document_id, d.vector.tolist(), d.fields) for d in again.documents()] == before
    assert again.search(old[4], top=1)[0][0] == "img4"
    assert _tables(again) == [again.table]  # the rebuild's table is gone


def test_a_write_with_the_old_model_after_the_swap_is_refused(
    analyzer: Analyzer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = model_of(analyzer.hub.embedder())
    paths = _pictures(tmp_path / "photos")
    index, old = _stale_index(analyzer, paths, real.dim)  # same dimension: only the fingerprint tells
    writer = rs.open_index(analyzer.settings, "photos")
    stale_model = writer.model
    rebuild(analyzer, index)
    with pytest.raises(ConflictError, match="was rebuilt"):
        writer.upsert([Document("late", old[0], uri="late.png")], stale_model)
    assert writer.model == real and writer.get("late") is None
    # `imagelens index rebuild` on pgvector (it answered "not supported" before)
    from typer.testing import CliRunner

    from imagelens.cli import app

    settings = analyzer.settings
    monkeypatch.setenv("IMAGELENS_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("IMAGELENS_HUB__OFFLINE", "1")
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(settings.store_dir))
    result = CliRunner().invoke(app, ["index", "rebuild", "--index", "photos"])
    assert result.exit_code == 0, result.output
    assert f"photos: {N} re-embedded with siglip2-base-patch16-224, 0 dropped" in result.output


def test_concurrent_writers_neither_deadlock_nor_write_old_vectors_into_the_swapped_table(
    pg_url: str,
) -> None:
    """Two writers upsert in a loop (old model) while a rebuild's table is swapped in: writers never block each
    other into a deadlock, each stops with one ConflictError, and the swapped table holds only the rebuild's rows."""
    from imagelens.store.pgdb import Database

    db = Database.connect(pg_url)
    try:
        old, new = EmbeddingModel("toy", "a" * 64, 8), EmbeddingModel("toy", "b" * 64, 8)
        index = PgVectorIndex.create(db, "photos", old)
        fresh = index.start_rebuild(new)
        fresh.upsert([Document(f"new{i}", np.eye(8, dtype=np.float32)[i]) for i in range(8)], new)
        ends: dict[int, Any] = {}
        counts = {0: 0, 1: 0}

        def writer(k: int) -> None:
            mine = PgVectorIndex.open(db, "photos")
            v = np.ones(8, dtype=np.float32)
            try:
                for i in range(10_000):
                    mine.upsert([Document(f"w{k}-{i}", v), Document(f"shared{i % 5}", v)], old)
                    counts[k] += 1
            except Exception as exc:
                ends[k] = exc

        threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        while min(counts.values()) < 5:
            time.sleep(0.05)
        swapped = index.finish_rebuild(fresh)
        for t in threads:
            t.join(30)
        assert all(isinstance(ends.get(k), ConflictError) for k in (0, 1)), ends
        assert sorted(swapped.document_ids()) == [f"new{i}" for i in range(8)]
    finally:
        db.close()
