"""The SQLite store's retention part: what expired, its removal by id, and evidence relocation.

Each removal is one transaction per chunk of ids, so a crash leaves whole chunks removed or
not; every step is by id and idempotent, so running the purge again finishes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from adwatch.core.clock import now_iso
from index.audit_chain import chained
from index.rules import relocated
from index.sqlite.audit import _entry as audit_entry
from index.sqlite.base import SqliteBase, chunks, marks
from index.sqlite.phones import refresh_counts
from index.store import AUDIT_FIELDS

# The append-only trigger of migration 8, put back in the same transaction that lifts it for a
# purge of expired entries: no other writer ever sees the table without it.
_NO_DELETE = ("CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN "
              "SELECT RAISE(ABORT, 'the audit log is append-only'); END")


class SqliteRetention(SqliteBase):
    def _column(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return [row[0] for row in self.db.execute(sql, list(params))]

    # --- ads and versions -------------------------------------------------------------------
    def expired_ads(self, before: str) -> list[str]:
        return self._column("SELECT id FROM ads WHERE last_seen_at < ? ORDER BY last_seen_at, id", [before])

    def expired_versions(self, before: str) -> list[tuple[str, int]]:
        rows = self.db.execute("SELECT ad_id, version FROM ad_versions WHERE replaced_at < ? "
                               "ORDER BY replaced_at, ad_id, version", (before,))
        return [(r[0], int(r[1])) for r in rows]

    def purge_ads(self, ids: Sequence[str], before: str | None = None) -> int:
        removed = 0
        for wanted in chunks(list(dict.fromkeys(ids))):
            with self._write_transaction():
                chunk = wanted if before is None else self._column(  # seen again since the plan: kept
                    f"SELECT id FROM ads WHERE id IN ({marks(wanted)}) AND last_seen_at < ?", [*wanted, before])
                if not chunk:
                    continue
                # The registry keeps each number's last sighting (touch and write keep it up to date).
                numbers = set(self._column(f"SELECT DISTINCT e164 FROM ad_phones WHERE ad_id IN ({marks(chunk)})",
                                           chunk))
                self.db.execute(
                    "UPDATE phones SET purged_last_seen_at = max(coalesce(purged_last_seen_at, ''), "
                    "(SELECT max(a.last_seen_at) FROM ads a JOIN ad_phones p ON p.ad_id = a.id "
                    f"WHERE p.e164 = phones.e164 AND a.id IN ({marks(chunk)}))) "
                    f"WHERE e164 IN (SELECT e164 FROM ad_phones WHERE ad_id IN ({marks(chunk)}))", [*chunk, *chunk])
                for table in ("ad_phones", "ad_towns", "ad_categories", "ad_versions"):
                    self.db.execute(f"DELETE FROM {table} WHERE ad_id IN ({marks(chunk)})", chunk)
                # The FTS rows go with the ads (trigger ads_fts_delete).
                removed += self.db.execute(f"DELETE FROM ads WHERE id IN ({marks(chunk)})", chunk).rowcount
                refresh_counts(self.db, numbers)
        return removed

    def purge_versions(self, versions: Sequence[tuple[str, int]]) -> int:
        removed = 0
        for start in range(0, len(versions), 500):
            with self._write_transaction():
                for ad_id, number in versions[start : start + 500]:
                    removed += self.db.execute("DELETE FROM ad_versions WHERE ad_id = ? AND version = ?",
                                               (ad_id, number)).rowcount
        return removed

    # --- registry, alerts, runs ---------------------------------------------------------------
    def orphan_phones(self, before: str) -> list[str]:
        return self._column("SELECT e164 FROM phones WHERE last_seen_at < ? AND NOT EXISTS "
                            "(SELECT 1 FROM ad_phones p WHERE p.e164 = phones.e164) ORDER BY e164", [before])

    def purge_phones(self, numbers: Sequence[str]) -> int:
        removed = 0
        for chunk in chunks(list(dict.fromkeys(numbers))):
            with self._write_transaction():
                # Only if still no ad carries it: a crawl may have brought the number back meanwhile.
                removed += self.db.execute(
                    f"DELETE FROM phones WHERE e164 IN ({marks(chunk)}) AND NOT EXISTS "
                    "(SELECT 1 FROM ad_phones p WHERE p.e164 = phones.e164)", chunk).rowcount
        return removed

    def expired_alerts(self, before: str) -> list[tuple[str, str | None, str | None]]:
        rows = self.db.execute("SELECT id, ad, phone FROM alerts WHERE created_at < ? ORDER BY created_at, id",
                               (before,))
        return [(r[0], r[1], r[2]) for r in rows]

    def purge_alerts(self, ids: Sequence[str]) -> int:
        removed = 0
        for chunk in chunks(list(dict.fromkeys(ids))):
            with self._write_transaction():
                removed += self.db.execute(f"DELETE FROM alerts WHERE id IN ({marks(chunk)})", chunk).rowcount
        return removed

    def expired_runs(self, before: str) -> list[int]:
        return [int(i) for i in self._column(
            "SELECT id FROM crawl_runs WHERE started_at < ? AND status != 'running' ORDER BY id", [before])]

    def purge_runs(self, ids: Sequence[int]) -> int:
        removed = 0
        for chunk in chunks([str(i) for i in dict.fromkeys(ids)]):
            with self._write_transaction():
                removed += self.db.execute(f"DELETE FROM crawl_runs WHERE id IN ({marks(chunk)})",
                                           [int(i) for i in chunk]).rowcount
        return removed

    # --- the audit log ------------------------------------------------------------------------
    def expired_audit(self, before: str) -> tuple[int, str] | None:
        first_kept = self.db.execute("SELECT min(seq) FROM audit WHERE at >= ?", (before,)).fetchone()[0]
        sql = "SELECT seq, hash FROM audit" + (" WHERE seq < ?" if first_kept is not None else "")
        row = self.db.execute(sql + " ORDER BY seq DESC LIMIT 1",
                              [first_kept] if first_kept is not None else []).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def audit_purge(self, through: int, user: str, action: str, params: dict[str, Any],
                    result_count: int | None, at: str) -> dict[str, Any]:
        # One transaction: the purge's entry, the trigger lifted, the old entries gone, the trigger
        # back. A crash anywhere rolls all of it back.
        with self._write_transaction():
            last = self.db.execute(f"SELECT {', '.join(AUDIT_FIELDS)} FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            entry = chained(audit_entry(last) if last else None, user, action, params, result_count, at or now_iso())
            row = entry | {"params": json.dumps(entry["params"], ensure_ascii=False, sort_keys=True)}
            self.db.execute(f"INSERT INTO audit ({', '.join(AUDIT_FIELDS)}) "
                            f"VALUES ({', '.join(f':{name}' for name in AUDIT_FIELDS)})", row)
            self.db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
            self.db.execute("DELETE FROM audit WHERE seq <= ? AND seq < ?", (through, entry["seq"]))
            self.db.execute(_NO_DELETE)
        return entry

    # --- evidence references ------------------------------------------------------------------
    def evidence_refs(self) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
        for sql in ("SELECT id, NULL, evidence FROM ads WHERE evidence LIKE '%record_id%'",
                    "SELECT ad_id, version, evidence FROM ad_versions WHERE evidence LIKE '%record_id%'"):
            for row in self.db.execute(sql).fetchall():
                evidence = json.loads(row[2])
                if isinstance(evidence, dict) and "record_id" in evidence:
                    yield row[0], (int(row[1]) if row[1] is not None else None), evidence

    def relocate_evidence(self, ad_ids: Iterable[str], warc: str, moves: dict[int, tuple[str, int]]) -> int:
        changed = 0
        for chunk in chunks(sorted(set(ad_ids))):
            # In one write transaction with the reads: a crawl's write of these ads waits for it,
            # so no version is made from evidence read before the move (no lost update).
            with self._write_transaction():
                for table, key in (("ads", "id"), ("ad_versions", "ad_id")):
                    rowid = "rowid"
                    rows = self.db.execute(f"SELECT {rowid}, evidence FROM {table} WHERE {key} IN ({marks(chunk)}) "
                                           "AND evidence IS NOT NULL", chunk).fetchall()
                    for row in rows:
                        evidence, count = relocated(json.loads(row[1]), warc, moves)
                        if count:
                            self.db.execute(f"UPDATE {table} SET evidence = ? WHERE rowid = ?",
                                            (json.dumps(evidence), row[0]))
                            changed += count
        return changed
