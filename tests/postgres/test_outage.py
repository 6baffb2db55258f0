"""PostgreSQL down at start (a clear error after bounded retries with backoff) and restarted mid-run (requests fail
with Azure's 503 body, then recover; nothing committed is lost)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from imagelens.store.base import DatasetRecord
from imagelens.store.pgdb import Database, DatabaseUnavailableError, redact
from imagelens.store.postgres import PostgresStore
from tests.postgres.conftest import PgServer

T = "2026-12-03T10:00:00Z"


def test_down_at_start_is_a_clear_error_after_backoff(tmp_path: Path) -> None:
    url = (
        f"postgresql://imagelens:secret@/imagelens?host={tmp_path}"  # no server listens on this socket folder
    )
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError) as caught:
        Database.connect(url, attempts=3, backoff_s=0.1, max_backoff_s=0.15)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 10  # waited 0.1 + 0.15 s between the 3 attempts, then gave up
    message = str(caught.value)
    assert "not reachable after 3 attempts" in message and "secret" not in message and "***" in message
    assert caught.value.status == 503 and caught.value.to_azure()["error"]["code"] == "ServiceUnavailable"


def test_not_a_postgres_url() -> None:
    from imagelens.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="postgresql://"):
        Database.connect("mysql://x@y/z")
    assert redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_restart_mid_run_fails_cleanly_then_recovers(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from imagelens.api.app import create_app
    from imagelens.config import Settings
    from imagelens.store import open_store
    from imagelens.store.pgdb import close_shared

    settings = Settings(database_url=pg_url, store_dir=tmp_path / "store")
    try:
        store = open_store(settings)
        assert isinstance(store, PostgresStore)
        store.create_dataset(DatasetRecord("before", "imageClassification", ("file:///a.json",), T, T))
        store.db.pool.timeout = 1.0  # fail fast while the server is down
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        url = "/computervision/datasets?api-version=2023-04-01-preview"
        assert client.get(url).status_code == 200
        pg_server.stop()
        try:
            down = client.get(url)
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "ServiceUnavailable"
            assert down.json()["error"]["innererror"]["code"] == "DatabaseUnavailable"
            with pytest.raises(DatabaseUnavailableError):
                store.create_dataset(
                    DatasetRecord("during", "imageClassification", ("file:///b.json",), T, T)
                )
        finally:
            pg_server.start()
        up = client.get(url)
        assert up.status_code == 200
        assert [d["name"] for d in up.json()] == ["before"]  # committed data kept, the failed write absent
        store.create_dataset(DatasetRecord("after", "imageClassification", ("file:///c.json",), T, T))
        assert [d.name for d in store.list_datasets()] == ["after", "before"]
    finally:
        close_shared()
