"""The SQLite store's crawl-run part: one row per crawl of a source."""

from __future__ import annotations

import json
from typing import Any

from index.rules import new_run, run_fields
from index.sqlite.base import SqliteBase


def _encoded(fields: dict[str, Any]) -> dict[str, Any]:
    return fields | {"stats": json.dumps(fields["stats"], default=str)} if "stats" in fields else fields


class SqliteRuns(SqliteBase):
    def start_run(self, source: str, started_at: str) -> int:
        row = _encoded(new_run(source, started_at))
        cur = self.db.execute(f"INSERT INTO crawl_runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                              list(row.values()))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, **fields: Any) -> None:
        changes = _encoded(run_fields(fields))
        sets = ", ".join(f"{name} = ?" for name in changes)
        self.db.execute(f"UPDATE crawl_runs SET {sets} WHERE id = ?", [*changes.values(), run_id])

    def first_finished_run(self, source: str) -> str | None:
        row = self.db.execute("SELECT min(finished_at) FROM crawl_runs WHERE source = ? "
                              "AND status IN ('ok', 'partial') AND finished_at IS NOT NULL", (source,)).fetchone()
        return str(row[0]) if row and row[0] else None

    def runs(self, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        sql = "SELECT * FROM crawl_runs"
        params: list[Any] = []
        if source:
            sql += " WHERE source = ?"
            params.append(source)
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [dict(r) | {"stats": json.loads(r["stats"])} for r in rows]
