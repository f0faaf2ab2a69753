"""The SQLite store's audit-log part: append-only, each entry chained to the one before by hash.

The chain itself (canonical form, hashes, verification) is ``index/audit_chain.py``; this
module only keeps it. An append is one ``BEGIN IMMEDIATE`` transaction — read the last entry,
insert the next — so writers in other processes queue on SQLite's write lock and the chain
never forks. Triggers refuse UPDATE and DELETE on the table (``index/sqlite_schema.py``, v8).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from adwatch.core.clock import now_iso
from index.audit_chain import chained
from index.sqlite.base import SqliteBase
from index.store import AUDIT_FIELDS


def _entry(row: sqlite3.Row) -> dict[str, Any]:
    entry = {name: row[name] for name in AUDIT_FIELDS}
    try:
        entry["params"] = json.loads(entry["params"]) if entry["params"] is not None else None
    except (TypeError, ValueError):  # edited by hand into no JSON: shown as it is, and verify says so
        pass
    return entry


class SqliteAudit(SqliteBase):
    def audit_append(self, user: str, action: str, params: dict[str, Any], result_count: int | None,
                     at: str | None = None) -> dict[str, Any]:
        with self._write_transaction():  # BEGIN IMMEDIATE: the write lock is held from the read of the last entry
            last = self.db.execute(f"SELECT {', '.join(AUDIT_FIELDS)} FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            entry = chained(_entry(last) if last else None, user, action, params, result_count, at or now_iso())
            row = entry | {"params": json.dumps(entry["params"], ensure_ascii=False, sort_keys=True)}
            self.db.execute(f"INSERT INTO audit ({', '.join(AUDIT_FIELDS)}) "
                            f"VALUES ({', '.join(f':{name}' for name in AUDIT_FIELDS)})", row)
        return entry

    def _audit_rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        try:
            rows = self.db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:  # a read-only store older than the table: nothing logged there
            if "no such table" in str(exc):
                return []
            raise
        return [_entry(row) for row in rows]

    def audit_entries(self, user: str | None = None, since: str | None = None, action: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        sql, params = f"SELECT {', '.join(AUDIT_FIELDS)} FROM audit WHERE 1 = 1", []
        for column, op, value in (("user", "=", user), ("at", ">=", since), ("action", "=", action)):
            if value is not None:
                sql += f" AND {column} {op} ?"
                params.append(value)
        return self._audit_rows(sql + " ORDER BY seq DESC LIMIT ? OFFSET ?", [*params, limit, offset])

    def audit_chain(self, after_seq: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        return self._audit_rows(f"SELECT {', '.join(AUDIT_FIELDS)} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                                [after_seq, limit])
