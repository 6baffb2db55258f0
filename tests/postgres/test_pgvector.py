"""The pgvector index against the embedded one on the same documents: the same behaviour (add/replace/delete,
filters, paging, refusal of mixed models and wrong dimensions) and the same neighbours within ANN tolerance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
from imagelens.retrieval.base import (
    Document,
    EmbeddingModel,
    Filters,
    MixedVectorsError,
    VectorDimensionError,
)
from imagelens.retrieval.embedded import EmbeddedIndex
from imagelens.store.pgdb import Database

DIM = 16
MODEL = EmbeddingModel("toy-embedder", "f" * 64, DIM)


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _docs(n: int, seed: int = 0) -> list[Document]:
    vecs = _vectors(n, seed)
    return [
        Document(
            f"doc{i}",
            vecs[i],
            uri=f"/photos/{'a' if i % 2 else 'b'}/{i}.jpg",
            size=1000 + i,
            taken=f"2024-0{1 + i % 9}-01T10:00:00",
            fields={"album": "even" if i % 2 == 0 else "odd", "n": i, "flag": i % 3 == 0},
        )
        for i in range(n)
    ]


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database.connect(pg_url)
    yield database
    database.close()


@pytest.fixture(params=["embedded", "pgvector"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "embedded":
        return EmbeddedIndex.create(tmp_path / "idx", "photos", MODEL)
    from imagelens.retrieval.pgvector import PgVectorIndex

    return PgVectorIndex.create(request.getfixturevalue("db"), "photos", MODEL)


def test_add_search_update_delete(index: Any) -> None:
    docs = _docs(50)
    assert index.upsert(docs, MODEL) == 50 and len(index) == 50
    hits = index.search(docs[7].vector, top=3)
    assert hits[0][0] == "doc7" and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [h[1] for h in hits] == sorted((h[1] for h in hits), reverse=True)
    assert (
        hits[0][2]["fields"] == {"album": "odd", "n": 7, "flag": False}
        and hits[0][2]["uri"] == "/photos/a/7.jpg"
    )
    index.upsert([Document("doc7", docs[8].vector, fields={"album": "moved"})], MODEL)
    assert len(index) == 50
    assert {h[0] for h in index.search(docs[8].vector, top=2)} == {"doc7", "doc8"}
    got = index.get("doc7")
    assert got is not None and got.fields == {"album": "moved"} and got.uri is None
    np.testing.assert_allclose(got.vector, docs[8].vector, atol=1e-6)
    assert index.sha256_of(["doc7", "nope"]) == {"doc7": None}
    assert index.delete(["doc7", "doc8", "nope"]) == 2 and len(index) == 48
    assert all(h[0] not in {"doc7", "doc8"} for h in index.search(docs[8].vector, top=10))
    assert index.get("doc7") is None
    assert index.document_ids()[:2] == ["doc0", "doc1"]
    assert index.stats().documents == 48 and index.stats().model == MODEL


def test_filters_and_paging(index: Any) -> None:
    docs = _docs(40)
    index.upsert(docs, MODEL)
    q = docs[0].vector
    odd = index.search(q, top=40, filters=Filters(equals={"album": "odd"}))
    assert len(odd) == 20 and all(h[2]["fields"]["album"] == "odd" for h in odd)
    assert {h[0] for h in index.search(q, top=5, filters=Filters(equals={"n": [3, 5]}))} == {"doc3", "doc5"}
    assert {h[0] for h in index.search(q, top=40, filters=Filters(equals={"size": 1004}))} == {"doc4"}
    assert len(index.search(q, top=40, filters=Filters(equals={"flag": True}))) == 14
    march = index.search(q, top=40, filters=Filters(taken_from="2024-03-01", taken_to="2024-03-01"))
    assert march and all(h[2]["taken"].startswith("2024-03") for h in march)
    assert len(index.search(q, top=40, filters=Filters(prefix="/photos/a/"))) == 20
    assert len(index.search(q, top=40, filters=Filters(prefix="doc1"))) == 11  # doc1, doc10..doc19
    assert index.search(q, top=5, filters=Filters(equals={"album": "none"})) == []
    full = index.search(q, top=12)
    assert [h[0] for h in index.search(q, top=6, skip=6)] == [h[0] for h in full[6:12]]


def test_refuses_mixed_models_and_wrong_dimensions(index: Any) -> None:
    other = EmbeddingModel("other-embedder", "0" * 64, DIM)
    with pytest.raises(MixedVectorsError, match="cannot be mixed.*rebuild"):
        index.upsert(_docs(1), other)
    with pytest.raises(MixedVectorsError):
        index.upsert(_docs(1), EmbeddingModel("toy-embedder", "1" * 64, DIM))
    with pytest.raises(VectorDimensionError, match="has 8 dimensions; this index holds 16"):
        index.upsert([Document("x", np.ones(8, np.float32))], MODEL)
    with pytest.raises(VectorDimensionError):
        index.search(np.ones(DIM + 1, np.float32))
    with pytest.raises(InvalidArgumentError, match="all zeros"):
        index.search(np.zeros(DIM, np.float32))
    assert len(index) == 0


def test_same_neighbours_as_the_embedded_index(db: Database, tmp_path: Path) -> None:
    from imagelens.retrieval.pgvector import PgVectorIndex

    rng = np.random.default_rng(3)
    centres = _vectors(20, 5)
    base = centres[rng.integers(0, 20, 2000)] + 0.05 * rng.standard_normal((2000, DIM)).astype(np.float32)
    docs = [Document(f"d{i}", v, fields={"half": i % 2}) for i, v in enumerate(base)]
    embedded = EmbeddedIndex.create(tmp_path / "e", "same", MODEL)
    pg = PgVectorIndex.create(db, "same", MODEL)
    embedded.upsert(docs, MODEL)
    with pg.bulk_load():  # rows first, then one CREATE INDEX
        pg.upsert(docs, MODEL)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    queries = _vectors(40, 9)
    exact = [set(np.argsort(-(unit @ q))[:10].tolist()) for q in queries]
    for filters in (None, Filters(equals={"half": 1})):
        overlap = recall = 0.0
        for q, truth in zip(queries, exact, strict=True):
            a = [h[0] for h in embedded.search(q, top=10, filters=filters)]
            b = [h[0] for h in pg.search(q, top=10, filters=filters)]
            assert len(a) == len(b) == 10
            overlap += len(set(a) & set(b)) / 10
            if filters is None:
                recall += len({int(x[1:]) for x in b} & truth) / 10
            else:
                assert all(int(x[1:]) % 2 == 1 for x in b)
        assert overlap / len(queries) >= 0.95
        if filters is None:
            assert recall / len(queries) >= 0.95
    assert pg.stats().ann == "pgvector-hnsw" and pg.stats().bytes_on_disk > 0


def test_registry_reopen_and_drop(db: Database) -> None:
    from imagelens.retrieval.pgvector import PgVectorIndex, drop_index, list_indexes

    first = PgVectorIndex.create(db, "a", MODEL)
    first.upsert(_docs(3), MODEL)
    PgVectorIndex.create(db, "b.2", EmbeddingModel("m2", "2" * 64, 8))
    assert list_indexes(db) == ["a", "b.2"]
    with pytest.raises(ConflictError):
        PgVectorIndex.create(db, "a", MODEL)
    again = PgVectorIndex.create(db, "a", MODEL, exist_ok=True)
    assert len(again) == 3 and PgVectorIndex.open(db, "a").model == MODEL
    with pytest.raises(MixedVectorsError):
        PgVectorIndex.create(db, "a", EmbeddingModel("m2", "2" * 64, DIM), exist_ok=True)
    drop_index(db, "a")
    assert list_indexes(db) == ["b.2"]
    with pytest.raises(NotFoundError):
        PgVectorIndex.open(db, "a")
    with pytest.raises(NotFoundError):
        drop_index(db, "a")
