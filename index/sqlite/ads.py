"""The SQLite store's ads part: write (with versions and the phone registry), touch, removals, read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from index import rules
from index.sqlite.base import JSON_FIELDS, SqliteBase, chunks, marks
from index.sqlite.phones import refresh_counts, register_sightings
from index.store import STORED_AD_FIELDS, AdState, WriteOutcome

_AD_COLUMNS = (*STORED_AD_FIELDS, "seen_date")  # seen_date: posted, else first seen (date filters)
_DEFAULTS: dict[str, Any] = {"title": "", "text": "", "indicator_score": 0.0, "version": 1}
_INSERT_AD = f"INSERT INTO ads ({', '.join(_AD_COLUMNS)}) VALUES ({', '.join(f':{c}' for c in _AD_COLUMNS)})"
_UPSERT_AD = _INSERT_AD + " ON CONFLICT(id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _AD_COLUMNS if c != "id") + ", missing_count = 0"  # fetched: it is listed
_OLD_COLUMNS = ("content_hash", "version", "title", "text", "phones", "first_seen_at", "evidence")


class SqliteAds(SqliteBase):
    def ad_states(self, ids: Iterable[str]) -> dict[str, AdState]:
        out: dict[str, AdState] = {}
        for chunk in chunks(list(ids)):
            rows = self.db.execute(
                f"SELECT id, content_hash, version, first_seen_at FROM ads WHERE id IN ({marks(chunk)})", chunk)
            for row in rows:
                out[row["id"]] = AdState(row["content_hash"], row["version"], row["first_seen_at"])
        return out

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        return set(self.ad_states(ids))

    # --- writes -----------------------------------------------------------------
    def write_ads(self, ads: Sequence[dict[str, Any]]) -> WriteOutcome:
        new = updated = 0
        touched_phones: set[str] = set()
        links: dict[str, tuple[list[str], list[str], list[str]]] = {}  # per ad: phones, towns, categories
        sightings: list[tuple[str, rules.Sighting]] = []
        last_seen: dict[str, str] = {}  # per number, its latest sighting in this batch
        with self._write_transaction():
            olds = self._old_rows([ad["id"] for ad in ads])
            for ad in ads:
                old = olds.get(ad["id"])
                row = self._write_one(ad, old)
                new += old is None
                updated += old is not None
                touched_phones.update(self._unlink(ad["id"]) if old is not None else ())
                links[ad["id"]] = _links(ad)  # the same ad twice: its last version counts
                touched_phones.update(links[ad["id"]][0])
                seen = ad.get("last_seen_at") or ad.get("first_seen_at")
                for e164, sighting in rules.ad_sightings(ad, old is None):
                    sightings.append((e164, sighting))
                    last_seen[e164] = rules.latest(last_seen.get(e164), seen) or sighting.first_seen_at
                # The same ad twice in one batch: the second sees the first as stored.
                olds[ad["id"]] = {k: row[k] for k in _OLD_COLUMNS}  # evidence: as stored (JSON text)
            self._write_links(links)
            # Inside this write transaction no other writer can register a number: the ones
            # this batch enters are new, and only to this batch.
            fresh = register_sightings(self.db, sightings, last_seen)
            refresh_counts(self.db, touched_phones)
        return WriteOutcome(new, updated, frozenset(fresh),
                            {e164: (s.ad, s.first_seen_at) for e164, s in fresh.items()})

    def _old_rows(self, ids: list[str]) -> dict[str, Any]:
        """The stored rows of these ads, in one query per 500 (not one per ad)."""
        out: dict[str, Any] = {}
        for chunk in chunks(list(dict.fromkeys(ids))):
            for row in self.db.execute(
                    f"SELECT id, {', '.join(_OLD_COLUMNS)} FROM ads WHERE id IN ({marks(chunk)})", chunk):
                out[row["id"]] = dict(row)
        return out

    def _write_one(self, ad: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        row = {column: ad.get(column) for column in _AD_COLUMNS}
        row.update({k: v for k, v in _DEFAULTS.items() if row[k] is None})
        for name in JSON_FIELDS:
            value = row[name]
            row[name] = "[]" if value is None and name != "evidence" or value == [] else json.dumps(value)
        if old is not None:
            stored = AdState(old["content_hash"], old["version"], old["first_seen_at"])
            row["version"], row["first_seen_at"], replaced = rules.merge_version(
                stored, row["content_hash"], row["version"], row["first_seen_at"])
            if replaced:
                # The replaced version keeps the records it was read from (its own evidence).
                self.db.execute(
                    "INSERT OR IGNORE INTO ad_versions (ad_id, version, content_hash, title, text, phones, "
                    "replaced_at, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (ad["id"], old["version"], old["content_hash"], old["title"], old["text"], old["phones"],
                     row["last_seen_at"], old["evidence"]),
                )
        row["seen_date"] = rules.seen_date(ad.get("posted_at"), row["first_seen_at"])
        self.db.execute(_UPSERT_AD if old is not None else _INSERT_AD, row)
        return row

    def _unlink(self, ad_id: str) -> set[str]:
        """Drop a stored ad's phone, town and category rows (its new ones follow); returns its numbers."""
        previous = {r[0] for r in self.db.execute("SELECT e164 FROM ad_phones WHERE ad_id = ?", (ad_id,))}
        for table in ("ad_phones", "ad_towns", "ad_categories"):
            self.db.execute(f"DELETE FROM {table} WHERE ad_id = ?", (ad_id,))
        return previous

    def _write_links(self, links: dict[str, tuple[list[str], list[str], list[str]]]) -> None:
        """The batch's phone, town and category rows, with one executemany each."""
        rows = links.items()
        self.db.executemany("INSERT INTO ad_phones VALUES (?, ?)", [(a, p) for a, (ps, _, _) in rows for p in ps])
        self.db.executemany("INSERT INTO ad_towns VALUES (?, ?)", [(a, t) for a, (_, ts, _) in rows for t in ts])
        self.db.executemany("INSERT INTO ad_categories VALUES (?, ?)", [(a, c) for a, (_, _, cs) in rows for c in cs])

    def touch(self, sightings: Sequence[tuple[str, str]]) -> int:
        if not sightings:
            return 0
        latest_seen = rules.latest_sightings(sightings)
        with self._write_transaction():
            stored: dict[str, str | None] = {}
            for chunk in chunks(list(latest_seen)):
                stored.update(self.db.execute(f"SELECT id, last_seen_at FROM ads WHERE id IN ({marks(chunk)})",
                                              chunk).fetchall())
            moved = rules.moved_forward(stored, latest_seen)
            self.db.executemany("UPDATE ads SET last_seen_at = ? WHERE id = ?", [(at, i) for i, at in moved.items()])
            # The registry keeps each number's last sighting (Elasticsearch reads it from the ads).
            self.db.executemany("UPDATE phones SET last_seen_at = max(last_seen_at, ?) "
                                "WHERE e164 IN (SELECT e164 FROM ad_phones WHERE ad_id = ?)",
                                [(seen, ad_id) for ad_id, seen in latest_seen.items() if ad_id in stored])
        return sum(1 for ad_id, _ in sightings if ad_id in stored)

    def mark_missing(self, source: str, listed: Iterable[str], seen_at: str, after: int) -> int:
        with self._write_transaction():
            rows = self.db.execute("SELECT id, missing_count, removed_at FROM ads WHERE source = ?", (source,))
            changes, removed = rules.presence_changes(
                ((r[0], rules.Presence(int(r[1] or 0), r[2])) for r in rows), set(listed), seen_at, after)
            self.db.executemany("UPDATE ads SET missing_count = ?, removed_at = ? WHERE id = ?",
                                [(p.missing_count, p.removed_at, ad_id) for ad_id, p in changes.items()])
        return removed

    # --- reads ------------------------------------------------------------------
    def get_ad(self, ad_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM ads WHERE id = ?", (ad_id,)).fetchone()
        return self._ad(row) if row else None

    def ad_versions(self, ad_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM ad_versions WHERE ad_id = ? ORDER BY version", (ad_id,))
        return [dict(r) | {"phones": json.loads(r["phones"] or "[]"),
                           "evidence": json.loads(r["evidence"]) if r["evidence"] else None} for r in rows]


def _links(ad: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """An ad's rows in the link tables: its numbers, town names and indicator categories."""
    return (sorted(set(ad.get("phones") or [])),
            sorted({t["name"] for t in ad.get("towns") or [] if t.get("name")}),
            sorted({h["category"] for h in ad.get("indicators") or [] if h.get("category")}))
