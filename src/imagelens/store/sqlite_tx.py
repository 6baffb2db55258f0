"""SQLite connections and write transactions, shared by every SQLite-backed store (customization, feedback, video).

A connection is opened per use, in autocommit mode (``isolation_level=None``), and closed after it. ``BEGIN
IMMEDIATE`` takes the write lock up front, so two processes never deadlock upgrading a read lock; the
transaction commits when the block ends and rolls back on any exception.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def connect(path: str | Path, timeout_s: float = 30.0) -> Iterator[sqlite3.Connection]:
    """A connection to ``path`` in autocommit mode, closed when the block ends."""
    db = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction on ``db`` (opened with ``isolation_level=None``)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
