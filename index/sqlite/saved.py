"""The SQLite store's saved-searches part: an analyst's queries, checked against every written batch."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from index.saved import SAVED_FIELDS, new_saved_search
from index.sqlite.base import SqliteBase


class SqliteSavedSearches(SqliteBase):
    def save_search(self, owner: str, name: str, query: dict[str, Any], created_at: str) -> dict[str, Any]:
        record = new_saved_search(owner, name, query, created_at)
        row = record | {"query": json.dumps(record["query"], ensure_ascii=False, default=str)}
        with self._write_transaction():
            self.db.execute(f"INSERT INTO saved_searches ({', '.join(SAVED_FIELDS)}) "
                            f"VALUES ({', '.join(f':{field}' for field in SAVED_FIELDS)})", row)
        return record

    @staticmethod
    def _saved(row: sqlite3.Row) -> dict[str, Any]:
        return {field: row[field] for field in SAVED_FIELDS} | {"query": json.loads(row["query"] or "{}")}

    def saved_searches(self, owner: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM saved_searches", []
        if owner is not None:
            sql += " WHERE owner = ?"
            params.append(owner)
        try:
            rows = self.db.execute(sql + " ORDER BY created_at, id", params).fetchall()
        except sqlite3.OperationalError as exc:  # a read-only store older than the table: none saved yet
            if "no such table" in str(exc):
                return []
            raise
        return [self._saved(row) for row in rows]

    def delete_saved_search(self, search_id: str, owner: str | None = None) -> bool:
        sql, params = "DELETE FROM saved_searches WHERE id = ?", [search_id]
        if owner is not None:
            sql += " AND owner = ?"
            params.append(owner)
        with self._write_transaction():
            cur = self.db.execute(sql, params)
        return cur.rowcount > 0
