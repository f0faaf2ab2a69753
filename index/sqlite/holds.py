"""The SQLite store's legal-hold part: holds added, listed, released (released ones stay listed)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from index.sqlite.base import SqliteBase
from index.store import HOLD_KINDS, hold_id

# Column names that are SQL words or too vague on their own get a prefix in the table.
_COLUMNS = {"case": "case_name", "by": "held_by", "at": "held_at"}


def _hold(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "case": row["case_name"], "kind": row["kind"], "value": row["value"],
            "ads": json.loads(row["ads"] or "[]"), "by": row["held_by"], "at": row["held_at"],
            "released_by": row["released_by"], "released_at": row["released_at"]}


class SqliteHolds(SqliteBase):
    def add_hold(self, case: str, kind: str, value: str, ads: Sequence[str], by: str, at: str) -> dict[str, Any]:
        if kind not in HOLD_KINDS:
            raise ValueError(f"hold kind {kind!r} is none of {', '.join(HOLD_KINDS)}")
        hold = {"id": hold_id(), "case": case, "kind": kind, "value": value, "ads": sorted(set(ads)),
                "by": by, "at": at, "released_by": None, "released_at": None}
        with self._write_transaction():
            self.db.execute("INSERT INTO holds (id, case_name, kind, value, ads, held_by, held_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (hold["id"], case, kind, value, json.dumps(hold["ads"]), by, at))
        return hold

    def holds(self, case: str | None = None, active: bool | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM holds WHERE 1 = 1", []
        if case is not None:
            sql += " AND case_name = ?"
            params.append(case)
        if active is not None:
            sql += " AND released_at IS NULL" if active else " AND released_at IS NOT NULL"
        try:
            rows = self.db.execute(sql + " ORDER BY held_at, id", params).fetchall()
        except sqlite3.OperationalError as exc:  # a read-only store older than holds: none
            if "no such table" in str(exc):
                return []
            raise
        return [_hold(r) for r in rows]

    def release_holds(self, case: str, by: str, at: str) -> list[dict[str, Any]]:
        with self._write_transaction():
            ids = [r[0] for r in self.db.execute(
                "SELECT id FROM holds WHERE case_name = ? AND released_at IS NULL", (case,))]
            self.db.executemany("UPDATE holds SET released_by = ?, released_at = ? WHERE id = ?",
                                [(by, at, i) for i in ids])
        return [h for h in self.holds(case) if h["id"] in set(ids)]
