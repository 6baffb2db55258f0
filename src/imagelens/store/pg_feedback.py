"""Feedback items in PostgreSQL's ``feedback`` table (migration 6), so every replica sees every report. Same rules
as :class:`~imagelens.store.feedback.SQLiteFeedbackStore`: items past ``retention_days`` invisible at once and
deleted on each write and purge, at most ``max_items`` kept (the oldest dropped first).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imagelens.store.feedback import COLUMNS, FeedbackItem, _Base, item_row, list_filters, row_item
from imagelens.store.pgdb import Database

if TYPE_CHECKING:
    import psycopg

_SELECT = COLUMNS.replace("expected", "expected::text")


class PostgresFeedbackStore(_Base):
    """:class:`~imagelens.store.feedback.FeedbackStore` on a shared :class:`~imagelens.store.pgdb.Database`."""

    def __init__(
        self,
        db: Database,
        retention_days: float | None = 90.0,
        max_items: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(retention_days, max_items, clock)
        self.db = db

    def _enforce(self, db: psycopg.Connection[Any], before: float | None = None) -> int:
        cutoff = self._cutoff() if before is None else max(self._cutoff(), before)
        gone = db.execute("DELETE FROM feedback WHERE created < %s", (cutoff,)).rowcount
        gone += db.execute(
            "DELETE FROM feedback WHERE seq IN (SELECT seq FROM feedback ORDER BY created DESC, seq DESC "
            "OFFSET %s)",
            (self.max_items,),
        ).rowcount
        return max(0, gone)

    def add(self, **fields: Any) -> FeedbackItem:
        item = self._new(**fields)
        with self.db.transaction() as db:
            db.execute(
                f"INSERT INTO feedback ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)",  # noqa: S608
                item_row(item),
            )
            self._enforce(db)
        return item

    def get(self, item_id: str) -> FeedbackItem | None:
        with self.db.transaction() as db:
            row = db.execute(
                f"SELECT {_SELECT} FROM feedback WHERE id = %s AND created >= %s",  # noqa: S608
                (item_id, self._cutoff()),
            ).fetchone()
        return None if row is None else row_item(row)

    def delete(self, item_id: str) -> bool:
        with self.db.transaction() as db:
            return (
                db.execute(
                    "DELETE FROM feedback WHERE id = %s AND created >= %s", (item_id, self._cutoff())
                ).rowcount
                > 0
            )

    def list(
        self,
        *,
        feature: str | None = None,
        verdict: str | None = None,
        since: float | None = None,
        top: int | None = 100,
        skip: int = 0,
    ) -> list[FeedbackItem]:
        where, args = list_filters(self._cutoff(), feature, verdict, since, "%s")
        with self.db.transaction() as db:
            rows = db.execute(
                f"SELECT {_SELECT} FROM feedback WHERE {where} ORDER BY created DESC, seq DESC "  # noqa: S608
                "LIMIT %s OFFSET %s",
                (*args, top, skip),
            ).fetchall()
        return [row_item(r) for r in rows]

    def purge(self, before: float | None = None) -> int:
        with self.db.transaction() as db:
            return self._enforce(db, before)
