"""Long-running operations (3.2 reads, product-recognition runs) in PostgreSQL, so that any server replica can answer
a poll for an operation another replica started. Same rules as the in-memory
:class:`~imagelens.operations.OperationStore`: keyed by ``(kind, id)``, kept ``ttl_s`` after creation, at most
``max_items`` of each kind (the oldest dropped), an update to a deleted or expired operation dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from imagelens.errors import ConflictError
from imagelens.operations import Operation, OperationStore
from imagelens.store.pgdb import Database

_COLUMNS = "kind, id, status, created, updated, result::text, error::text"


def _operation(row: tuple[Any, ...]) -> Operation:
    kind, op_id, status, created, updated, result, error = row
    return Operation(
        kind,
        op_id,
        status,
        float(created),
        float(updated),
        None if result is None else json.loads(result),
        None if error is None else json.loads(error),
    )


class PostgresOperationStore(OperationStore):
    """:class:`~imagelens.operations.OperationStore` whose records live in the ``operations`` table."""

    def __init__(
        self,
        db: Database,
        ttl_s: float = 48 * 3600.0,
        max_items: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ttl_s, max_items, clock)
        self.db = db

    def _oldest_live(self) -> float:
        return self._clock() - self.ttl_s

    def create(self, kind: str, op_id: str) -> Operation:
        now = self._clock()
        with self.db.transaction() as db:
            db.execute("DELETE FROM operations WHERE created < %s", (now - self.ttl_s,))
            cur = db.execute(
                "INSERT INTO operations (kind, id, status, created, updated) VALUES (%s, %s, 'notStarted', %s, %s) "
                "ON CONFLICT DO NOTHING",
                (kind, op_id, now, now),
            )
            if cur.rowcount == 0:
                raise ConflictError(f"The {kind} operation '{op_id}' already exists.")
            db.execute(
                "DELETE FROM operations WHERE kind = %s AND id IN (SELECT id FROM operations WHERE kind = %s "
                "ORDER BY created DESC, id DESC OFFSET %s)",
                (kind, kind, self.max_items),
            )
        return Operation(kind, op_id, "notStarted", now, now)

    def exists(self, kind: str, op_id: str) -> bool:
        return self.get(kind, op_id) is not None

    def get(self, kind: str, op_id: str) -> Operation | None:
        with self.db.transaction() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM operations WHERE kind = %s AND id = %s AND created >= %s",  # noqa: S608
                (kind, op_id, self._oldest_live()),
            ).fetchone()
        return None if row is None else _operation(row)

    def delete(self, kind: str, op_id: str) -> bool:
        with self.db.transaction() as db:
            cur = db.execute(
                "DELETE FROM operations WHERE kind = %s AND id = %s AND created >= %s",
                (kind, op_id, self._oldest_live()),
            )
            return cur.rowcount > 0

    def _update(self, kind: str, op_id: str, **changes: Any) -> None:
        sets = ["updated = %s"]
        args: list[Any] = [self._clock()]
        for key, value in changes.items():
            if key == "status":
                sets.append("status = %s")
                args.append(value)
            elif key in ("result", "error"):
                sets.append(f"{key} = %s::jsonb")
                args.append(json.dumps(value))
            else:
                raise ValueError(f"unknown operation field {key!r}")
        with self.db.transaction() as db:
            db.execute(
                f"UPDATE operations SET {', '.join(sets)} WHERE kind = %s AND id = %s",  # noqa: S608
                (*args, kind, op_id),
            )

    def list(self, kind: str) -> list[Operation]:
        with self.db.transaction() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM operations WHERE kind = %s AND created >= %s "  # noqa: S608
                "ORDER BY created, id",
                (kind, self._oldest_live()),
            ).fetchall()
        return [_operation(r) for r in rows]

    def count(self, kind: str | None = None) -> int:
        with self.db.transaction() as db:
            if kind is None:
                row = db.execute(
                    "SELECT COUNT(*) FROM operations WHERE created >= %s", (self._oldest_live(),)
                )
            else:
                row = db.execute(
                    "SELECT COUNT(*) FROM operations WHERE kind = %s AND created >= %s",
                    (kind, self._oldest_live()),
                )
            found = row.fetchone()
        return int(found[0]) if found else 0
