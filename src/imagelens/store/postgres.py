"""The customization store on PostgreSQL (``IMAGELENS_DATABASE_URL``): the same records and rules as
:class:`~imagelens.store.sqlite.SQLiteStore`, shared by every server replica that points at the database.

Rows hold each record as JSON (``data``) plus the columns the store queries (a model's status, owner, heartbeat).
Every change runs in one transaction that locks the rows it reads (``SELECT ... FOR UPDATE``), so a compare-and-set
is atomic across replicas. Jobs are claimed with ``FOR UPDATE SKIP LOCKED``: two replicas never claim the same job,
and :meth:`PostgresStore.claim_next` takes over a job whose owner stopped renewing its lease (its heartbeat).

A model's files are written by its trainer into a folder under ``root`` (``IMAGELENS_STORE_DIR``, local to each
host) and stored in the database when the model is marked ``succeeded``, in that same transaction
(:mod:`imagelens.store.pg_blobs`); a replica on another host fetches them into its own folder the first time it
needs them (:meth:`PostgresStore.model_files`). Replicas share no folder.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from imagelens.errors import ConflictError, NotFoundError
from imagelens.store import pg_blobs
from imagelens.store.base import (
    ACTIVE_STATUSES,
    RETRAINABLE_STATUSES,
    DatasetRecord,
    EvaluationRecord,
    ModelFiles,
    ModelRecord,
    check_name,
)
from imagelens.store.pgdb import Database
from imagelens.store.sqlite import (
    _DATASET_FIELDS,
    _EVAL_FIELDS,
    _MODEL_FIELDS,
    _dataset,
    _dump,
    _evaluation,
    _model,
    _taken,
    _unknown,
)


class PostgresStore(ModelFiles):
    """:class:`~imagelens.store.base.CustomizationStore` on PostgreSQL; model files under ``root``."""

    def __init__(self, db: Database, root: str | Path) -> None:
        self.db = db
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    # --- datasets -------------------------------------------------------------------------------------------------

    def create_dataset(self, record: DatasetRecord) -> DatasetRecord:
        check_name(record.name, "dataset name")
        with self.db.transaction() as db:
            cur = db.execute(
                "INSERT INTO datasets (name, data) VALUES (%s, %s::jsonb) ON CONFLICT DO NOTHING",
                (record.name, _dump(record)),
            )
            if cur.rowcount == 0:
                raise ConflictError(f"The dataset '{record.name}' already exists.")
        return record

    def get_dataset(self, name: str) -> DatasetRecord:
        with self.db.transaction() as db:
            row = db.execute("SELECT data::text FROM datasets WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"The dataset '{name}' was not found.")
        return _dataset(row[0])

    def list_datasets(self) -> list[DatasetRecord]:
        with self.db.transaction() as db:
            rows = db.execute("SELECT data::text FROM datasets ORDER BY name").fetchall()
        return [_dataset(r[0]) for r in rows]

    def update_dataset(self, name: str, **changes: Any) -> DatasetRecord:
        _unknown(changes, _DATASET_FIELDS - {"name", "created"}, "dataset")
        with self.db.transaction() as db:
            row = db.execute("SELECT data::text FROM datasets WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"The dataset '{name}' was not found.")
            if "annotation_file_uris" in changes:
                changes["annotation_file_uris"] = tuple(changes["annotation_file_uris"])
            record = replace(_dataset(row[0]), **changes)
            db.execute("UPDATE datasets SET data = %s::jsonb WHERE name = %s", (_dump(record), name))
        return record

    def delete_dataset(self, name: str) -> None:
        with self.db.transaction() as db:
            if db.execute("DELETE FROM datasets WHERE name = %s", (name,)).rowcount == 0:
                raise NotFoundError(f"The dataset '{name}' was not found.")

    # --- models ---------------------------------------------------------------------------------------------------

    def create_model(self, record: ModelRecord) -> ModelRecord:
        check_name(record.name, "model name")
        stale: list[Path] = []
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT data::text FROM models WHERE name = %s FOR UPDATE", (record.name,)
            ).fetchone()
            if row is None:
                cur = db.execute(
                    "INSERT INTO models (name, status, owner, heartbeat, created, data) "
                    "VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
                    _model_row(record),
                )
                if cur.rowcount == 0:  # another replica created it between our read and our insert
                    raise ConflictError(f"The model '{record.name}' already exists; try again in a moment.")
            else:
                old = _model(row[0])
                if old.status not in RETRAINABLE_STATUSES or old.owner is not None:
                    raise ConflictError(_taken(old))
                db.execute("DELETE FROM evaluations WHERE model_name = %s", (record.name,))
                db.execute("DELETE FROM model_files WHERE model_name = %s", (record.name,))
                stale = self._move_aside(
                    record.name
                )  # before the new record exists: the new job never sees them
                self._write_model(db, record)
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return record

    def _write_model(self, db: Any, record: ModelRecord) -> None:
        db.execute(
            "UPDATE models SET status = %s, owner = %s, heartbeat = %s, created = %s, data = %s::jsonb "
            "WHERE name = %s",
            (*_model_row(record)[1:], record.name),
        )

    def get_model(self, name: str) -> ModelRecord:
        with self.db.transaction() as db:
            row = db.execute("SELECT data::text FROM models WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"The model '{name}' was not found.")
        return _model(row[0])

    def list_models(self) -> list[ModelRecord]:
        with self.db.transaction() as db:
            rows = db.execute("SELECT data::text FROM models ORDER BY name").fetchall()
        return [_model(r[0]) for r in rows]

    def update_model(
        self, name: str, *, expect: Mapping[str, Any] | None = None, **changes: Any
    ) -> ModelRecord | None:
        _unknown(changes, _MODEL_FIELDS - {"name", "created"}, "model")
        with self.db.transaction() as db:
            row = db.execute("SELECT data::text FROM models WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"The model '{name}' was not found.")
            record = _model(row[0])
            if expect and any(getattr(record, k) != v for k, v in expect.items()):
                return None
            succeeds = changes.get("status") == "succeeded" and record.status != "succeeded"
            record = replace(record, **changes)
            if (
                succeeds
            ):  # the trained files go into the database with the status: never one without the other
                manifest = pg_blobs.publish(db, name, self.model_dir(name), record.created)
                info = {k: v for k, v in record.info.items() if k != "files"}
                record = replace(record, info={**info, "files": manifest} if manifest else info)
            self._write_model(db, record)
        return record

    def model_files(self, record: ModelRecord) -> Path:
        """The folder of ``record``'s files on this host. For a succeeded model whose files are in the database, a
        folder that is missing or holds another version is fetched first (once per host, under a lock)."""
        target = self.model_dir(record.name)
        manifest = record.info.get("files")
        if record.status != "succeeded" or not isinstance(manifest, dict):
            return target
        if pg_blobs.is_current(target, record.created, manifest):
            return target
        with pg_blobs.host_lock(self.root, record.name):
            if not pg_blobs.is_current(target, record.created, manifest):
                target.parent.mkdir(parents=True, exist_ok=True)
                pg_blobs.materialise(self.db, record.name, record.created, manifest, target)
        return target

    def prune_local_files(self) -> list[str]:
        """Remove this host's copies of models that were deleted (or trained again) on another replica; returns
        their names. Only folders carrying the fetched/published marker are considered, so a model being trained
        here is never touched."""
        folder = self.root / "models"
        if not folder.is_dir():
            return []
        created = {m.name: m.created for m in self.list_models()}
        pruned = []
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or not path.is_dir():
                continue
            marker = pg_blobs.read_marker(path)
            if marker is None or created.get(path.name) == marker.get("created"):
                continue
            with pg_blobs.host_lock(self.root, path.name):
                marker = pg_blobs.read_marker(path)
                if marker is not None and self._created(path.name) != marker.get("created"):
                    aside = folder / f".old-{path.name}-{time.time_ns()}"
                    os.replace(path, aside)
                    shutil.rmtree(aside, ignore_errors=True)
                    pruned.append(path.name)
        return pruned

    def _created(self, name: str) -> str | None:
        with self.db.transaction() as db:
            row = db.execute("SELECT data->>'created' FROM models WHERE name = %s", (name,)).fetchone()
        return None if row is None else str(row[0])

    def claim_model(self, name: str, owner: str, statuses: frozenset[str]) -> ModelRecord | None:
        """Claim one job by name; a row another replica holds locked is skipped (``None``): it is being claimed
        or changed there. The claim starts the owner's lease (``heartbeat`` = now)."""
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT data::text FROM models WHERE name = %s FOR UPDATE SKIP LOCKED", (name,)
            ).fetchone()
            if row is None:
                if db.execute("SELECT 1 FROM models WHERE name = %s", (name,)).fetchone() is None:
                    raise NotFoundError(f"The model '{name}' was not found.")
                return None
            record = _model(row[0])
            if record.owner not in (None, owner) or record.status not in statuses:
                return None
            record = replace(record, owner=owner, heartbeat=time.time())
            self._write_model(db, record)
        return record

    def claim_next(
        self, owner: str, lease_s: float, statuses: frozenset[str] = ACTIVE_STATUSES
    ) -> ModelRecord | None:
        """Claim the oldest job in ``statuses`` that nobody owns, or whose owner's lease ran out (no heartbeat for
        ``lease_s`` seconds: the replica died), with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers each get a
        different job. The previous owner's late updates then fail their compare-and-set on ``owner``."""
        now = time.time()
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT data::text FROM models WHERE status = ANY(%s) "
                "AND (owner IS NULL OR heartbeat IS NULL OR heartbeat < %s) "
                "ORDER BY created, name LIMIT 1 FOR UPDATE SKIP LOCKED",
                (sorted(statuses), now - lease_s),
            ).fetchone()
            if row is None:
                return None
            record = replace(_model(row[0]), owner=owner, heartbeat=now)
            self._write_model(db, record)
        return record

    def delete_model(self, name: str) -> None:
        with self.db.transaction() as db:
            if db.execute("DELETE FROM models WHERE name = %s", (name,)).rowcount == 0:
                raise NotFoundError(f"The model '{name}' was not found.")
            db.execute("DELETE FROM evaluations WHERE model_name = %s", (name,))
        self.remove_model_files(name)

    # --- evaluations ----------------------------------------------------------------------------------------------

    def create_evaluation(self, record: EvaluationRecord) -> EvaluationRecord:
        check_name(record.name, "evaluation name")
        with self.db.transaction() as db:
            cur = db.execute(
                "INSERT INTO evaluations (model_name, name, data) VALUES (%s, %s, %s::jsonb) "
                "ON CONFLICT DO NOTHING",
                (record.model_name, record.name, _dump(record)),
            )
            if cur.rowcount == 0:
                raise ConflictError(
                    f"The evaluation '{record.name}' of model '{record.model_name}' already exists."
                )
        return record

    def get_evaluation(self, model_name: str, name: str) -> EvaluationRecord:
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT data::text FROM evaluations WHERE model_name = %s AND name = %s", (model_name, name)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"The evaluation '{name}' of model '{model_name}' was not found.")
        return _evaluation(row[0])

    def list_evaluations(self, model_name: str | None = None) -> list[EvaluationRecord]:
        with self.db.transaction() as db:
            if model_name is None:
                rows = db.execute("SELECT data::text FROM evaluations ORDER BY model_name, name").fetchall()
            else:
                rows = db.execute(
                    "SELECT data::text FROM evaluations WHERE model_name = %s ORDER BY name", (model_name,)
                ).fetchall()
        return [_evaluation(r[0]) for r in rows]

    def update_evaluation(self, model_name: str, name: str, **changes: Any) -> EvaluationRecord:
        _unknown(changes, _EVAL_FIELDS - {"model_name", "name", "created"}, "evaluation")
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT data::text FROM evaluations WHERE model_name = %s AND name = %s FOR UPDATE",
                (model_name, name),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"The evaluation '{name}' of model '{model_name}' was not found.")
            record = replace(_evaluation(row[0]), **changes)
            db.execute(
                "UPDATE evaluations SET data = %s::jsonb WHERE model_name = %s AND name = %s",
                (_dump(record), model_name, name),
            )
        return record

    def delete_evaluation(self, model_name: str, name: str) -> None:
        with self.db.transaction() as db:
            cur = db.execute(
                "DELETE FROM evaluations WHERE model_name = %s AND name = %s", (model_name, name)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"The evaluation '{name}' of model '{model_name}' was not found.")

    def close(self) -> None:
        """Nothing to release here: the pool belongs to the :class:`~imagelens.store.pgdb.Database`."""


def _model_row(record: ModelRecord) -> tuple[Any, ...]:
    return (record.name, record.status, record.owner, record.heartbeat, record.created, _dump(record))
