"""One setting picks the backend: ``IMAGELENS_DATABASE_URL`` (here a Unix-socket ``?host=`` URI) moves the
customization store, the operations and the retrieval indexes to PostgreSQL; without it they stay embedded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagelens.config import Settings
from imagelens.operations import OperationStore
from imagelens.retrieval import search as rs
from imagelens.retrieval.base import Document, EmbeddingModel
from imagelens.retrieval.embedded import EmbeddedIndex
from imagelens.store import SQLiteStore, open_operations, open_store

MODEL = EmbeddingModel("toy-embedder", "f" * 64, 4)


def test_without_a_database_url_everything_is_embedded(tmp_path: Path) -> None:
    settings = Settings(store_dir=tmp_path)
    assert isinstance(open_store(settings), SQLiteStore)
    assert type(open_operations(settings)) is OperationStore
    assert isinstance(rs.create_index(settings, "x", MODEL), EmbeddedIndex)


def test_a_database_url_moves_every_store(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagelens.retrieval.pgvector import PgVectorIndex
    from imagelens.store.pg_operations import PostgresOperationStore
    from imagelens.store.pgdb import close_shared
    from imagelens.store.postgres import PostgresStore

    assert "?host=/" in pg_url  # the Unix-socket form
    monkeypatch.setenv("IMAGELENS_DATABASE_URL", pg_url)
    monkeypatch.setenv("IMAGELENS_STORE_DIR", str(tmp_path / "files"))
    settings = Settings()
    try:
        store = open_store(settings)
        assert isinstance(store, PostgresStore) and store.root == (tmp_path / "files").resolve()
        assert open_store(settings).db is store.db  # one pool per process
        assert isinstance(open_operations(settings), PostgresOperationStore)
        index = rs.create_index(settings, "photos", MODEL)
        assert isinstance(index, PgVectorIndex)
        index.upsert([Document("a", np.array([1, 0, 0, 0], np.float32))], MODEL)
        assert rs.list_indexes(settings) == ["photos"]
        assert rs.open_index(settings, "photos").search(np.array([1, 0, 0, 0], np.float32))[0][0] == "a"
        rs.drop_index(settings, "photos")
        assert rs.list_indexes(settings) == []
        assert not (tmp_path / "files" / "retrieval").exists()  # nothing went to the embedded folder
    finally:
        close_shared()
