"""One SQLite write transaction, shared by every SQLite-backed store (customization, feedback, video).

``BEGIN IMMEDIATE`` takes the write lock up front, so two processes never deadlock upgrading a read lock; the
transaction commits when the block ends and rolls back on any exception.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


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
