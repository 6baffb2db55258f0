"""Where custom-model datasets, jobs, evaluations and trained files are kept. SQLite (embedded) by default.

Standard library only, so importing it is light.
"""

from __future__ import annotations

import os
from pathlib import Path

from imagelens.config import Settings
from imagelens.store.base import (
    CustomizationStore,
    DatasetRecord,
    EvaluationRecord,
    ModelRecord,
    check_name,
)
from imagelens.store.sqlite import SQLiteStore

__all__ = [
    "CustomizationStore",
    "DatasetRecord",
    "EvaluationRecord",
    "ModelRecord",
    "SQLiteStore",
    "check_name",
    "default_store_dir",
    "open_store",
]


def default_store_dir() -> Path:
    """``$XDG_DATA_HOME/imagelens`` (``~/.local/share/imagelens``): data a user would not want a cache cleaner to
    delete, unlike the model download cache."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "imagelens"


def open_store(settings: Settings) -> SQLiteStore:
    """The store ``settings.store_dir`` names (``IMAGELENS_STORE_DIR``), or the default folder."""
    return SQLiteStore(settings.store_dir if settings.store_dir is not None else default_store_dir())
