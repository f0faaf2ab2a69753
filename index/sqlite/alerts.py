"""The SQLite store's alerts part: stored once per key, acknowledged, delivered per channel."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from index.sqlite.base import SqliteBase
from index.store import ALERT_FIELDS, waiting_channels


class SqliteAlerts(SqliteBase):
    def add_alerts(self, alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        added = []
        with self._write_transaction():
            for alert in alerts:
                row = {name: alert.get(name) for name in ALERT_FIELDS}
                deliveries = row["deliveries"] or {}
                row.update(details=json.dumps(row["details"] or {}, ensure_ascii=False, default=str),
                           deliveries=json.dumps(deliveries), undelivered=int(bool(waiting_channels(deliveries))))
                columns = [*ALERT_FIELDS, "undelivered"]
                cur = self.db.execute(
                    f"INSERT INTO alerts ({', '.join(columns)}) VALUES ({', '.join(f':{c}' for c in columns)}) "
                    "ON CONFLICT DO NOTHING", row)
                if cur.rowcount:
                    added.append(dict(alert))
        return added

    @staticmethod
    def _alert(row: sqlite3.Row) -> dict[str, Any]:
        alert = {name: row[name] for name in ALERT_FIELDS}
        alert["details"] = json.loads(alert["details"] or "{}")
        alert["deliveries"] = json.loads(alert["deliveries"] or "{}")
        return alert

    def alerts(self, since: str | None = None, rule: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM alerts WHERE 1 = 1", []
        if since:
            sql += " AND created_at >= ?"
            params.append(since)
        if rule:
            sql += " AND rule = ?"
            params.append(rule)
        rows = self.db.execute(sql + " ORDER BY created_at DESC, id LIMIT ?", [*params, limit])
        return [self._alert(r) for r in rows]

    def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return self._alert(row) if row else None

    def ack_alert(self, alert_id: str, by: str, at: str) -> bool:
        with self._write_transaction():
            cur = self.db.execute("UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ?", (at, by, alert_id))
        return cur.rowcount > 0

    def set_delivery(self, alert_id: str, channel: str, delivery: dict[str, Any]) -> None:
        with self._write_transaction():
            row = self.db.execute("SELECT deliveries FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            if row is None:
                raise KeyError(f"no alert {alert_id}")
            deliveries = json.loads(row[0] or "{}") | {channel: delivery}
            self.db.execute("UPDATE alerts SET deliveries = ?, undelivered = ? WHERE id = ?",
                            (json.dumps(deliveries), int(bool(waiting_channels(deliveries))), alert_id))

    def undelivered_alerts(self, limit: int = 1000, after: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM alerts WHERE undelivered = 1 AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?",
            (*(after or ("", "")), limit))
        return [self._alert(r) for r in rows]
