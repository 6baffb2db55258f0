"""One PostgreSQL database shared by every store: a connection pool, bounded retries at start, schema migrations, and
one error for "the database cannot be reached".

``IMAGELENS_DATABASE_URL`` is any libpq URI (``postgresql://user:pw@host:5432/db``, or a Unix socket:
``postgresql://user@/db?host=/run/postgresql``). Needs the ``postgres`` extra (psycopg 3 + psycopg_pool).

* **Start.** :meth:`Database.connect` tries to connect ``attempts`` times with exponential backoff (0.5 s, 1 s, 2 s
  ... capped at 8 s) and then raises :class:`DatabaseUnavailableError` naming the server (password hidden) and the
  last error: a server that is still starting is waited for, a wrong URL fails in seconds, not forever.
* **Transactions.** :meth:`Database.transaction` lends a pooled connection inside one transaction: committed when
  the block ends, rolled back when it raises, so every multi-step change is atomic. A connection broken by a
  server restart is noticed when it is lent (``check``) and replaced; a request that meets the database down
  fails with :class:`DatabaseUnavailableError` (HTTP 503, Azure's ``ServiceUnavailable``) and the next one after
  the server is back succeeds.
* **Migrations.** :data:`MIGRATIONS` are numbered SQL scripts; the ones a database has not seen are applied in
  one transaction under an advisory lock (replicas starting together apply them once) and recorded in
  ``imagelens_schema``. A database newer than this code is refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from imagelens.errors import ImageLensError, InvalidArgumentError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

log = logging.getLogger("imagelens.database")

_LOCK_KEY = 0x1A6E1E45  # pg_advisory_xact_lock key of the migrations

#: (version, name, SQL). Append only: a released migration is never edited.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "customization store",
        """
        CREATE TABLE datasets (name text PRIMARY KEY, data jsonb NOT NULL);
        CREATE TABLE models (
            name text PRIMARY KEY,
            status text NOT NULL,
            owner text,
            heartbeat double precision,
            created text NOT NULL,
            data jsonb NOT NULL
        );
        CREATE INDEX models_active ON models (created) WHERE status IN ('notStarted', 'training', 'cancelling');
        CREATE TABLE evaluations (
            model_name text NOT NULL,
            name text NOT NULL,
            data jsonb NOT NULL,
            PRIMARY KEY (model_name, name)
        );
        """,
    ),
    (
        2,
        "operations",
        """
        CREATE TABLE operations (
            kind text NOT NULL,
            id text NOT NULL,
            status text NOT NULL,
            created double precision NOT NULL,
            updated double precision NOT NULL,
            result jsonb,
            error jsonb,
            PRIMARY KEY (kind, id)
        );
        CREATE INDEX operations_by_age ON operations (kind, created);
        """,
    ),
    (
        3,
        "retrieval indexes",
        """
        CREATE TABLE retrieval_indexes (
            id serial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            model_id text NOT NULL,
            fingerprint text NOT NULL,
            dim integer NOT NULL,
            created text NOT NULL,
            updated text NOT NULL
        );
        """,
    ),
    (
        4,
        "model files",
        """
        CREATE TABLE model_files (
            model_name text NOT NULL REFERENCES models (name) ON DELETE CASCADE,
            path text NOT NULL,
            chunk integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (model_name, path, chunk)
        );
        ALTER TABLE model_files ALTER COLUMN data SET STORAGE EXTERNAL;
        """,
    ),
    (
        5,
        "video indexes",
        """
        CREATE TABLE video_indexes (
            name text PRIMARY KEY,
            segments_index text NOT NULL,
            info jsonb NOT NULL
        );
        CREATE TABLE video_documents (
            index_name text NOT NULL REFERENCES video_indexes (name) ON DELETE CASCADE,
            document_id text NOT NULL,
            url text,
            metadata jsonb NOT NULL,
            user_data jsonb,
            duration double precision,
            segments integer NOT NULL,
            warnings jsonb NOT NULL,
            created text NOT NULL,
            updated text NOT NULL,
            PRIMARY KEY (index_name, document_id)
        );
        CREATE TABLE video_ingestions (
            index_name text NOT NULL REFERENCES video_indexes (name) ON DELETE CASCADE,
            name text NOT NULL,
            state text NOT NULL,
            request jsonb NOT NULL,
            details jsonb NOT NULL,
            error text,
            created text NOT NULL,
            updated text NOT NULL,
            owner text,
            heartbeat double precision,
            progress jsonb,
            PRIMARY KEY (index_name, name)
        );
        CREATE TABLE video_checkpoints (
            index_name text NOT NULL REFERENCES video_indexes (name) ON DELETE CASCADE,
            document_id text NOT NULL,
            state jsonb NOT NULL,
            updated text NOT NULL,
            PRIMARY KEY (index_name, document_id)
        );
        CREATE TABLE video_pending (
            index_name text NOT NULL REFERENCES video_indexes (name) ON DELETE CASCADE,
            document_id text NOT NULL,
            n integer NOT NULL,
            start_s double precision NOT NULL,
            end_s double precision NOT NULL,
            best_s double precision NOT NULL,
            samples integer NOT NULL,
            vector bytea NOT NULL,
            PRIMARY KEY (index_name, document_id, n)
        );
        """,
    ),
    (
        6,
        "feedback",
        """
        CREATE TABLE feedback (
            seq bigserial PRIMARY KEY,
            id text NOT NULL UNIQUE,
            created double precision NOT NULL,
            feature text NOT NULL,
            verdict text NOT NULL,
            client text NOT NULL,
            request_id text,
            value text,
            expected jsonb,
            comment text,
            image_sha256 text
        );
        CREATE INDEX feedback_by_age ON feedback (created);
        """,
    ),
    (
        7,
        "vocabulary additions",
        """
        CREATE TABLE vocab_lists (
            list text PRIMARY KEY,
            revision bigint NOT NULL DEFAULT 0,
            added jsonb NOT NULL DEFAULT '[]',
            removed jsonb NOT NULL DEFAULT '[]'
        );
        CREATE TABLE vocab_examples (
            list text NOT NULL,
            key text NOT NULL,
            number integer NOT NULL,
            sha256 text NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (list, key, number)
        );
        """,
    ),
)
SCHEMA_VERSION = max(v for v, _, _ in MIGRATIONS)


class DatabaseUnavailableError(ImageLensError):
    """PostgreSQL cannot be reached (down, restarting, wrong address): try again later."""

    status = 503
    code = "ServiceUnavailable"
    inner_code = "DatabaseUnavailable"
    exit_code = 3


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _driver() -> tuple[Any, Any]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise InvalidArgumentError(
            "IMAGELENS_DATABASE_URL needs the PostgreSQL driver: pip install 'imagelens[postgres]' "
            f"({exc.name} is missing)."
        ) from None
    return psycopg, psycopg_pool


def _is_connection_error(exc: BaseException) -> bool:
    psycopg, psycopg_pool = _driver()
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | psycopg_pool.PoolTimeout)


class Database:
    """A pool of connections to one PostgreSQL database, migrated to :data:`SCHEMA_VERSION`."""

    def __init__(self, url: str, pool: ConnectionPool[Any]) -> None:
        self.url = url
        self.pool = pool

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        attempts: int = 6,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_size: int = 8,
        timeout_s: float = 5.0,
    ) -> Database:
        """Wait for the server (``attempts`` tries, exponential backoff), open the pool, apply migrations."""
        psycopg, psycopg_pool = _driver()
        if not url.startswith(("postgresql://", "postgres://")):
            raise InvalidArgumentError(
                f"IMAGELENS_DATABASE_URL must be a postgresql:// URI, got {redact(url)!r}."
            )
        delay, started, last = backoff_s, time.monotonic(), ""
        for attempt in range(1, max(1, attempts) + 1):
            try:
                psycopg.connect(url, connect_timeout=max(2, int(timeout_s))).close()
                break
            except psycopg.Error as exc:
                last = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if attempt == attempts:
                    raise DatabaseUnavailableError(
                        f"PostgreSQL at {redact(url)} is not reachable after {attempts} attempts over "
                        f"{time.monotonic() - started:.1f} s: {last}"
                    ) from None
                log.warning("PostgreSQL not reachable (%s); retrying in %.1f s", last, delay)
                time.sleep(delay)
                delay = min(delay * 2, max_backoff_s)
        pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=timeout_s,
            check=psycopg_pool.ConnectionPool.check_connection,
            open=False,
            name="imagelens",
        )
        pool.open(wait=True, timeout=timeout_s)
        db = cls(url, pool)
        try:
            db.migrate()
        except BaseException:
            pool.close()
            raise
        return db

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction (commit at the end, rollback on an exception)."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except Exception as exc:
            if _is_connection_error(exc):
                raise DatabaseUnavailableError(
                    f"The database is not available ({type(exc).__name__}); try again in a moment."
                ) from exc
            raise

    def migrate(self) -> int:
        """Apply the migrations this database has not seen, in one transaction; returns how many."""
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS imagelens_schema (version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {row[0] for row in conn.execute("SELECT version FROM imagelens_schema")}
            if applied and max(applied) > SCHEMA_VERSION:
                raise InvalidArgumentError(
                    f"The database {redact(self.url)} has schema version {max(applied)}, newer than this imagelens "
                    f"supports ({SCHEMA_VERSION}); upgrade imagelens."
                )
            todo = [(v, name, sql) for v, name, sql in MIGRATIONS if v not in applied]
            for version, name, sql in todo:
                conn.execute(sql.encode())
                conn.execute("INSERT INTO imagelens_schema (version, name) VALUES (%s, %s)", (version, name))
                log.info("database migrated to version %d (%s)", version, name)
        return len(todo)

    def schema_version(self) -> int:
        with self.transaction() as conn:
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM imagelens_schema").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.pool.close()


_shared: dict[str, Database] = {}
_shared_lock = threading.Lock()


def shared_database(url: str) -> Database:
    """The process's one :class:`Database` for ``url`` (every store of a process shares its pool)."""
    with _shared_lock:
        db = _shared.get(url)
        if db is None or db.pool.closed:
            db = _shared[url] = Database.connect(url)
        return db


def close_shared() -> None:
    with _shared_lock:
        for db in _shared.values():
            db.pool.close()
        _shared.clear()
