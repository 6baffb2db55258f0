"""The embedded default store: one SQLite file (WAL mode) plus folders for model files, under one root.

Every call opens its own short-lived connection, so the store is safe to share between threads and between
processes (the server, job threads, a CLI). Read-modify-write changes run inside ``BEGIN IMMEDIATE`` transactions:
two processes claiming the same job cannot both win.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
from imagelens.store.base import (
    RETRAINABLE_STATUSES,
    DatasetRecord,
    EvaluationRecord,
    ModelFiles,
    ModelRecord,
    check_name,
)
from imagelens.store.sqlite_tx import connect, immediate

DB_FILE = "imagelens.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    owner TEXT,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    model_name TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (model_name, name)
);
"""

_DATASET_FIELDS = {f.name for f in fields(DatasetRecord)}
_MODEL_FIELDS = {f.name for f in fields(ModelRecord)}
_EVAL_FIELDS = {f.name for f in fields(EvaluationRecord)}


def _dump(record: Any) -> str:
    data = {name: getattr(record, name) for name in (f.name for f in fields(record))}
    if "annotation_file_uris" in data:
        data["annotation_file_uris"] = list(data["annotation_file_uris"])
    return json.dumps(data, sort_keys=True)


def _dataset(text: str) -> DatasetRecord:
    data = json.loads(text)
    data["annotation_file_uris"] = tuple(data["annotation_file_uris"])
    return DatasetRecord(**{k: v for k, v in data.items() if k in _DATASET_FIELDS})


def _model(text: str) -> ModelRecord:
    data = json.loads(text)
    return ModelRecord(**{k: v for k, v in data.items() if k in _MODEL_FIELDS})


def _evaluation(text: str) -> EvaluationRecord:
    data = json.loads(text)
    return EvaluationRecord(**{k: v for k, v in data.items() if k in _EVAL_FIELDS})


def _taken(record: ModelRecord) -> str:
    if record.active:
        return (
            f"The model '{record.name}' already exists and is {record.status}; cancel it before training again under "
            "this name."
        )
    if record.status in RETRAINABLE_STATUSES:  # owned: a process is still finishing it
        return (
            f"The model '{record.name}' already exists and is still being cleaned up; try again in a moment."
        )
    return (
        f"The model '{record.name}' already exists (its status is '{record.status}'); delete it before training "
        "again under this name."
    )


def _unknown(changes: dict[str, Any], allowed: set[str], what: str) -> None:
    bad = sorted(set(changes) - allowed)
    if bad:
        raise InvalidArgumentError(f"unknown {what} field(s) {bad}; known: {sorted(allowed)}")


class SQLiteStore(ModelFiles):
    """:class:`~imagelens.store.base.CustomizationStore` on SQLite, rooted at ``root``:
    ``root/imagelens.sqlite3``, ``root/models/<name>/`` (trained files), ``root/jobs/<name>/`` (checkpoints)."""

    def __init__(self, root: str | Path, *, timeout_s: float = 30.0) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / DB_FILE
        self._timeout = timeout_s
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise InvalidArgumentError(
                    f"the store {self.path} has schema {row[0]}, newer than this imagelens supports "
                    f"({SCHEMA_VERSION}); upgrade imagelens"
                )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with connect(self.path, self._timeout) as db:
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db, immediate(db):
            yield db

    # --- datasets -------------------------------------------------------------------------------------------------

    def create_dataset(self, record: DatasetRecord) -> DatasetRecord:
        check_name(record.name, "dataset name")
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM datasets WHERE name = ?", (record.name,)).fetchone():
                raise ConflictError(f"The dataset '{record.name}' already exists.")
            db.execute("INSERT INTO datasets VALUES (?, ?)", (record.name, _dump(record)))
        return record

    def get_dataset(self, name: str) -> DatasetRecord:
        with self._connect() as db:
            row = db.execute("SELECT data FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"The dataset '{name}' was not found.")
        return _dataset(row[0])

    def list_datasets(self) -> list[DatasetRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT data FROM datasets ORDER BY name").fetchall()
        return [_dataset(r[0]) for r in rows]

    def update_dataset(self, name: str, **changes: Any) -> DatasetRecord:
        _unknown(changes, _DATASET_FIELDS - {"name", "created"}, "dataset")
        with self._transaction() as db:
            row = db.execute("SELECT data FROM datasets WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"The dataset '{name}' was not found.")
            if "annotation_file_uris" in changes:
                changes["annotation_file_uris"] = tuple(changes["annotation_file_uris"])
            record = replace(_dataset(row[0]), **changes)
            db.execute("UPDATE datasets SET data = ? WHERE name = ?", (_dump(record), name))
        return record

    def delete_dataset(self, name: str) -> None:
        with self._transaction() as db:
            if db.execute("DELETE FROM datasets WHERE name = ?", (name,)).rowcount == 0:
                raise NotFoundError(f"The dataset '{name}' was not found.")

    # --- models ---------------------------------------------------------------------------------------------------

    def create_model(self, record: ModelRecord) -> ModelRecord:
        check_name(record.name, "model name")
        stale: list[Path] = []
        with self._transaction() as db:
            row = db.execute("SELECT data FROM models WHERE name = ?", (record.name,)).fetchone()
            if row is not None:
                old = _model(row[0])
                if old.status not in RETRAINABLE_STATUSES or old.owner is not None:
                    raise ConflictError(_taken(old))
                db.execute("DELETE FROM evaluations WHERE model_name = ?", (record.name,))
                # The old files leave their places before the new record exists, so the new job never sees them.
                stale = self._move_aside(record.name)
            db.execute(
                "INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?)",
                (record.name, record.status, record.owner, _dump(record)),
            )
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return record

    def get_model(self, name: str) -> ModelRecord:
        with self._connect() as db:
            row = db.execute("SELECT data FROM models WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"The model '{name}' was not found.")
        return _model(row[0])

    def list_models(self) -> list[ModelRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT data FROM models ORDER BY name").fetchall()
        return [_model(r[0]) for r in rows]

    def update_model(
        self, name: str, *, expect: Mapping[str, Any] | None = None, **changes: Any
    ) -> ModelRecord | None:
        _unknown(changes, _MODEL_FIELDS - {"name", "created"}, "model")
        with self._transaction() as db:
            row = db.execute("SELECT data FROM models WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"The model '{name}' was not found.")
            record = _model(row[0])
            if expect and any(getattr(record, k) != v for k, v in expect.items()):
                return None
            record = replace(record, **changes)
            db.execute(
                "UPDATE models SET status = ?, owner = ?, data = ? WHERE name = ?",
                (record.status, record.owner, _dump(record), name),
            )
        return record

    def claim_model(self, name: str, owner: str, statuses: frozenset[str]) -> ModelRecord | None:
        with self._transaction() as db:
            row = db.execute("SELECT data FROM models WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"The model '{name}' was not found.")
            record = _model(row[0])
            if record.owner not in (None, owner) or record.status not in statuses:
                return None
            record = replace(record, owner=owner)
            db.execute(
                "UPDATE models SET status = ?, owner = ?, data = ? WHERE name = ?",
                (record.status, record.owner, _dump(record), name),
            )
        return record

    def delete_model(self, name: str) -> None:
        with self._transaction() as db:
            if db.execute("DELETE FROM models WHERE name = ?", (name,)).rowcount == 0:
                raise NotFoundError(f"The model '{name}' was not found.")
            db.execute("DELETE FROM evaluations WHERE model_name = ?", (name,))
        self.remove_model_files(name)

    # --- evaluations ----------------------------------------------------------------------------------------------

    def create_evaluation(self, record: EvaluationRecord) -> EvaluationRecord:
        check_name(record.name, "evaluation name")
        with self._transaction() as db:
            key = (record.model_name, record.name)
            if db.execute("SELECT 1 FROM evaluations WHERE model_name = ? AND name = ?", key).fetchone():
                raise ConflictError(
                    f"The evaluation '{record.name}' of model '{record.model_name}' already exists."
                )
            db.execute("INSERT INTO evaluations VALUES (?, ?, ?)", (*key, _dump(record)))
        return record

    def get_evaluation(self, model_name: str, name: str) -> EvaluationRecord:
        with self._connect() as db:
            row = db.execute(
                "SELECT data FROM evaluations WHERE model_name = ? AND name = ?", (model_name, name)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"The evaluation '{name}' of model '{model_name}' was not found.")
        return _evaluation(row[0])

    def list_evaluations(self, model_name: str | None = None) -> list[EvaluationRecord]:
        with self._connect() as db:
            if model_name is None:
                rows = db.execute("SELECT data FROM evaluations ORDER BY model_name, name").fetchall()
            else:
                rows = db.execute(
                    "SELECT data FROM evaluations WHERE model_name = ? ORDER BY name", (model_name,)
                ).fetchall()
        return [_evaluation(r[0]) for r in rows]

    def update_evaluation(self, model_name: str, name: str, **changes: Any) -> EvaluationRecord:
        _unknown(changes, _EVAL_FIELDS - {"model_name", "name", "created"}, "evaluation")
        with self._transaction() as db:
            row = db.execute(
                "SELECT data FROM evaluations WHERE model_name = ? AND name = ?", (model_name, name)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"The evaluation '{name}' of model '{model_name}' was not found.")
            record = replace(_evaluation(row[0]), **changes)
            db.execute(
                "UPDATE evaluations SET data = ? WHERE model_name = ? AND name = ?",
                (_dump(record), model_name, name),
            )
        return record

    def delete_evaluation(self, model_name: str, name: str) -> None:
        with self._transaction() as db:
            cur = db.execute("DELETE FROM evaluations WHERE model_name = ? AND name = ?", (model_name, name))
            if cur.rowcount == 0:
                raise NotFoundError(f"The evaluation '{name}' of model '{model_name}' was not found.")

    def close(self) -> None:
        """Nothing to release: connections live for one call."""
