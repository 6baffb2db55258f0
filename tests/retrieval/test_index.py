"""The embedded index on synthetic vectors (no model): add/update/delete, filters, paging, persistence, refusal of
mixed vectors and wrong dimensions, ANN vs exact, and kill -9 during ingestion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
from imagelens.retrieval.ann import ExactIndex, HnswIndex, hnsw_available
from imagelens.retrieval.base import (
    Document,
    EmbeddingModel,
    Filters,
    MixedVectorsError,
    VectorDimensionError,
)
from imagelens.retrieval.embedded import ANN_FILE, ANN_META, EmbeddedIndex

DIM = 16
MODEL = EmbeddingModel("toy-embedder", "f" * 64, DIM)


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _docs(n: int, seed: int = 0, start: int = 0) -> list[Document]:
    vecs = _vectors(n, seed)
    return [
        Document(
            f"doc{start + i}",
            vecs[i],
            uri=f"/photos/{'a' if i % 2 else 'b'}/{start + i}.jpg",
            taken=f"2024-0{1 + i % 9}-01T10:00:00",
            fields={"album": "even" if i % 2 == 0 else "odd", "n": start + i},
        )
        for i in range(n)
    ]


@pytest.fixture()
def index(tmp_path: Path) -> EmbeddedIndex:
    return EmbeddedIndex.create(tmp_path / "idx", "photos", MODEL)


def test_add_search_update_delete(index: EmbeddedIndex) -> None:
    docs = _docs(50)
    assert index.upsert(docs, MODEL) == 50
    assert len(index) == 50
    hits = index.search(docs[7].vector, top=3)
    assert hits[0][0] == "doc7" and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [h[1] for h in hits] == sorted((h[1] for h in hits), reverse=True)
    assert hits[0][2]["fields"] == {"album": "odd", "n": 7} and hits[0][2]["uri"] == "/photos/a/7.jpg"
    # update: same id, new vector -> the old vector is gone
    new = Document("doc7", docs[8].vector, fields={"album": "moved"})
    index.upsert([new], MODEL)
    assert len(index) == 50
    top = index.search(docs[8].vector, top=2)
    assert {h[0] for h in top} == {"doc7", "doc8"}
    assert index.get("doc7") is not None and index.get("doc7").fields == {"album": "moved"}  # type: ignore[union-attr]
    assert index.delete(["doc7", "doc8", "nope"]) == 2
    assert len(index) == 48
    assert all(h[0] not in {"doc7", "doc8"} for h in index.search(docs[8].vector, top=10))
    assert index.get("doc7") is None


def test_filters_and_paging(index: EmbeddedIndex) -> None:
    docs = _docs(40)
    index.upsert(docs, MODEL)
    q = docs[0].vector
    odd = index.search(q, top=40, filters=Filters(equals={"album": "odd"}))
    assert len(odd) == 20 and all(h[2]["fields"]["album"] == "odd" for h in odd)
    both = index.search(q, top=5, filters=Filters(equals={"n": [3, 5]}))
    assert {h[0] for h in both} == {"doc3", "doc5"}
    march = index.search(q, top=40, filters=Filters(taken_from="2024-03-01", taken_to="2024-03-01"))
    assert march and all(h[2]["taken"].startswith("2024-03") for h in march)
    prefixed = index.search(q, top=40, filters=Filters(prefix="/photos/a/"))
    assert len(prefixed) == 20
    assert index.search(q, top=5, filters=Filters(equals={"album": "none"})) == []
    full = index.search(q, top=12)
    page2 = index.search(q, top=6, skip=6)
    assert [h[0] for h in page2] == [h[0] for h in full[6:12]]


def test_refuses_mixed_models_and_wrong_dimensions(index: EmbeddedIndex) -> None:
    other = EmbeddingModel("other-embedder", "0" * 64, DIM)
    with pytest.raises(MixedVectorsError, match="cannot be mixed.*rebuild"):
        index.upsert(_docs(1), other)
    same_id_new_weights = EmbeddingModel("toy-embedder", "1" * 64, DIM)
    with pytest.raises(MixedVectorsError):
        index.upsert(_docs(1), same_id_new_weights)
    with pytest.raises(VectorDimensionError, match="has 8 dimensions; this index holds 16"):
        index.upsert([Document("x", np.ones(8, np.float32))], MODEL)
    with pytest.raises(VectorDimensionError):
        index.search(np.ones(DIM + 1, np.float32))
    with pytest.raises(InvalidArgumentError, match="all zeros"):
        index.search(np.zeros(DIM, np.float32))
    assert len(index) == 0
    with pytest.raises(ConflictError):
        EmbeddedIndex.create(index.root, "photos", MODEL)
    with pytest.raises(MixedVectorsError):
        EmbeddedIndex.create(index.root, "photos", other, exist_ok=True)


def test_persistence_replay_and_torn_cache(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    index = EmbeddedIndex.create(root, "p", MODEL)
    docs = _docs(30)
    index.upsert(docs[:20], MODEL)
    index.flush()
    index.upsert(docs[20:], MODEL)  # committed, graph not saved
    index.delete(["doc3"])
    again = EmbeddedIndex.open(root)
    assert len(again) == 29
    assert again.search(docs[25].vector, top=1)[0][0] == "doc25"
    assert all(h[0] != "doc3" for h in again.search(docs[3].vector, top=5))
    again.flush()
    (root / ANN_FILE).write_bytes(b"torn")  # a damaged cache is rebuilt from SQLite
    third = EmbeddedIndex.open(root)
    assert len(third) == 29 and third.search(docs[10].vector, top=1)[0][0] == "doc10"
    (root / ANN_META).unlink()
    assert len(EmbeddedIndex.open(root)) == 29
    with pytest.raises(NotFoundError):
        EmbeddedIndex.open(tmp_path / "missing")


@pytest.mark.skipif(not hnsw_available(), reason="hnswlib not installed")
def test_hnsw_matches_exact_on_clustered_data() -> None:
    rng = np.random.default_rng(3)
    centres = _vectors(20, 5)
    base = centres[rng.integers(0, 20, 3000)] + 0.05 * rng.standard_normal((3000, DIM)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    ids = np.arange(3000, dtype=np.int64) * 7 + 1
    hnsw, exact = HnswIndex(DIM, 64, threads=1), ExactIndex(DIM)  # one thread: a deterministic graph
    hnsw.add(ids, base)
    exact.add(ids, base)
    hnsw.remove(ids[:10])
    exact.remove(ids[:10])
    queries = _vectors(50, 9)
    hits = sum(
        len(set(hnsw.search(q, 10)[0].tolist()) & set(exact.search(q, 10)[0].tolist())) for q in queries
    )
    assert hits / 500 >= 0.95
    allowed = set(ids[100:110].tolist())
    got, _ = hnsw.search(queries[0], 10, allowed.__contains__)
    assert set(got.tolist()) == allowed


_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from imagelens.retrieval.base import Document, EmbeddingModel
    from imagelens.retrieval.embedded import EmbeddedIndex
    model = EmbeddingModel("toy-embedder", "f" * 64, 16)
    index = EmbeddedIndex.create(__import__("pathlib").Path(sys.argv[1]), "p", model, exist_ok=True)
    rng = np.random.default_rng(0)
    for batch in range(100000):
        v = rng.standard_normal((20, 16)).astype(np.float32)
        index.upsert([Document(f"b{batch}-{i}", v[i]) for i in range(20)], model)
        print(batch, flush=True)
        if batch % 3 == 0:
            index.flush()
    """
)


def test_kill_9_during_ingestion_loses_no_committed_document(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    committed = -1
    deadline = time.monotonic() + 60
    while committed < 15 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed = int(line)
    time.sleep(0.05)  # let it get into the middle of a later batch or a graph save
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert committed >= 15
    index = EmbeddedIndex.open(root)
    ids = set(index.document_ids())
    for batch in range(committed + 1):  # every batch it reported committed is there, whole
        assert all(f"b{batch}-{i}" in ids for i in range(20))
    assert len(ids) % 20 == 0  # no torn batch
    assert len(index) == len(ids)
    doc = index.get("b0-0")
    assert doc is not None and index.search(doc.vector, top=1)[0][0] == "b0-0"
