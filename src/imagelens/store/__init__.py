"""Where custom-model datasets, jobs, evaluations and trained files are kept. SQLite (embedded) by default,
PostgreSQL with ``IMAGELENS_DATABASE_URL`` (:func:`open_store` chooses).

Standard library only, so importing it is light.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from imagelens.config import Settings
from imagelens.operations import OperationStore
from imagelens.store.additions import FileAdditions, VocabularyAdditions
from imagelens.store.base import (
    CustomizationStore,
    DatasetRecord,
    EvaluationRecord,
    ModelRecord,
    check_name,
)
from imagelens.store.feedback import FeedbackStore, SQLiteFeedbackStore
from imagelens.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from imagelens.store.pg_additions import PostgresAdditions

__all__ = [
    "CustomizationStore",
    "DatasetRecord",
    "EvaluationRecord",
    "FeedbackStore",
    "ModelRecord",
    "SQLiteStore",
    "check_name",
    "VocabularyAdditions",
    "default_store_dir",
    "open_feedback",
    "open_additions",
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


#: The vocabularies with user additions: list name -> (file in the store folder, its examples folder, the JSON field
#: of a file without removals).
_ADDITIONS: dict[str, tuple[str, str | None, str | None]] = {
    "brands": ("brands/brands.json", "brands/examples", None),
    "landmarks": ("landmarks.json", None, "landmarks"),
}
_shared_additions: dict[tuple[str, str, Path], PostgresAdditions] = {}


def open_additions(settings: Settings, list_name: str) -> VocabularyAdditions:
    """The user's additions to ``list_name`` (``brands`` or ``landmarks``): in PostgreSQL when
    ``settings.database_url`` is set (every replica, on any host, sees one list; example crops are cached under
    :func:`store_dir`), else files in :func:`store_dir`."""
    file, examples, names_field = _ADDITIONS[list_name]
    root = store_dir(settings)
    if settings.database_url:
        from imagelens.store.pg_additions import PostgresAdditions
        from imagelens.store.pgdb import shared_database

        key = (settings.database_url, list_name, root)
        found = _shared_additions.get(key)
        # one per process: it caches the list and when it last checked the revision
        if found is None or found.db.pool.closed:
            found = PostgresAdditions(
                shared_database(settings.database_url), list_name, root / "db-cache" / list_name
            )
            _shared_additions[key] = found
        return found
    return FileAdditions(root / file, None if examples is None else root / examples, names_field=names_field)
