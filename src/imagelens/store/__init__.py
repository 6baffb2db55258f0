"""Where custom-model datasets, jobs, evaluations and trained files are kept. SQLite (embedded) by default,
PostgreSQL with ``IMAGELENS_DATABASE_URL`` (:func:`open_store` chooses).

Standard library only, so importing it is light.
"""

from __future__ import annotations

import os
from pathlib import Path

from imagelens.config import Settings
from imagelens.operations import OperationStore
from imagelens.store.base import (
    CustomizationStore,
    DatasetRecord,
    EvaluationRecord,
    ModelRecord,
    check_name,
)
from imagelens.store.feedback import FeedbackStore, SQLiteFeedbackStore
from imagelens.store.sqlite import SQLiteStore

__all__ = [
    "CustomizationStore",
    "DatasetRecord",
    "EvaluationRecord",
    "FeedbackStore",
    "ModelRecord",
    "SQLiteStore",
    "check_name",
    "default_store_dir",
    "open_feedback",
    "open_operations",
    "open_store",
    "store_dir",
]


def default_store_dir() -> Path:
    """``$XDG_DATA_HOME/imagelens`` (``~/.local/share/imagelens``): data a user would not want a cache cleaner to
    delete, unlike the model download cache."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "imagelens"


def store_dir(settings: Settings) -> Path:
    """``settings.store_dir`` (``IMAGELENS_STORE_DIR``), or the default folder."""
    return settings.store_dir if settings.store_dir is not None else default_store_dir()


def open_store(settings: Settings) -> CustomizationStore:
    """The one place that picks the backend: PostgreSQL when ``settings.database_url`` (``IMAGELENS_DATABASE_URL``)
    is set (model files still under :func:`store_dir`), else SQLite in :func:`store_dir`."""
    if settings.database_url:
        from imagelens.store.pgdb import shared_database
        from imagelens.store.postgres import PostgresStore

        return PostgresStore(shared_database(settings.database_url), store_dir(settings))
    return SQLiteStore(store_dir(settings))


def open_operations(settings: Settings) -> OperationStore:
    """The operation store (3.2 reads, product-recognition runs): in PostgreSQL when ``settings.database_url`` is
    set (every replica reads every operation), else in this process's memory."""
    ttl_s, max_items = settings.server.operation_ttl_s, settings.server.max_operations
    if settings.database_url:
        from imagelens.store.pg_operations import PostgresOperationStore
        from imagelens.store.pgdb import shared_database

        return PostgresOperationStore(shared_database(settings.database_url), ttl_s, max_items)
    return OperationStore(ttl_s, max_items)


def open_feedback(settings: Settings) -> FeedbackStore:
    """The feedback store (:mod:`imagelens.store.feedback`): in PostgreSQL when ``settings.database_url`` is set,
    else ``feedback.sqlite3`` in :func:`store_dir`; with ``settings.feedback``'s retention."""
    days, max_items = settings.feedback.retention_days, settings.feedback.max_items
    if settings.database_url:
        from imagelens.store.pg_feedback import PostgresFeedbackStore
        from imagelens.store.pgdb import shared_database

        return PostgresFeedbackStore(shared_database(settings.database_url), days, max_items)
    return SQLiteFeedbackStore(store_dir(settings), days, max_items)
