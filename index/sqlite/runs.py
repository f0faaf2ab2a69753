"""The SQLite store's crawl-run part: one row per crawl of a source."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from adwatch.core.clock import now_iso
from adwatch.crawl_lock import lock_free, this_host
from index.rules import crashed, crashed_fields, new_run, run_fields
from index.sqlite.base import SqliteBase


def _encoded(fields: dict[str, Any]) -> dict[str, Any]:
    return fields | {"stats": json.dumps(fields["stats"], default=str)} if "stats" in fields else fields


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    return dict(row) | {"stats": json.loads(row["stats"])}


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

    def mark_crashed(self, source: str | None = None, holding: str | None = None) -> dict[int, dict[str, Any]]:
        sql = "SELECT * FROM crawl_runs WHERE status = 'running'"
        params: list[Any] = []
        if source:
            sql += " AND source = ?"
            params.append(source)
        host, found_at = this_host(), now_iso()
        marked: dict[int, dict[str, Any]] = {}
        for run in [_decoded(r) for r in self.db.execute(sql, params)]:
            if not crashed(run, host, lock_free, holding):
                continue
            fields = crashed_fields(found_at)
            try:  # only if still running: its crawl may have finished it since the look
                cur = self.db.execute("UPDATE crawl_runs SET status = ?, reason = ? "
                                      "WHERE id = ? AND status = 'running'",
                                      (fields["status"], fields["reason"], run["id"]))
            except sqlite3.OperationalError:  # a read-only store: shown crashed, written by the next look that may
                marked[run["id"]] = fields
                continue
            if cur.rowcount:
                marked[run["id"]] = fields
        return marked

    def first_finished_run(self, source: str) -> str | None:
        row = self.db.execute("SELECT min(finished_at) FROM crawl_runs WHERE source = ? "
                              "AND status IN ('ok', 'partial') AND finished_at IS NOT NULL", (source,)).fetchone()
        return str(row[0]) if row and row[0] else None

    def runs(self, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first; a run whose crawl is gone is marked crashed first (``mark_crashed``)."""
        marked = self.mark_crashed(source)
        sql = "SELECT * FROM crawl_runs"
        params: list[Any] = []
        if source:
            sql += " WHERE source = ?"
            params.append(source)
        rows = [_decoded(r) for r in self.db.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])]
        return [row | marked[row["id"]] if row["status"] == "running" and row["id"] in marked else row
                for row in rows]
