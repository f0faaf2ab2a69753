"""The SQLite store's phone registry: first sightings (written with each batch of ads) and reads."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from index.rules import Sighting, earliest_sightings, first_sighting, latest
from index.sqlite.base import SqliteBase, chunks, marks

_ENTRY = "e164, first_seen_at, first_town, first_ad, first_county, last_seen_at"


def register_sightings(db: sqlite3.Connection, rows: list[tuple[str, Sighting]],
                       last_seen: dict[str, str]) -> dict[str, Sighting]:
    """Enter a batch's (number, sighting) rows in the registry, inside the batch's write
    transaction (so no other writer can enter a number meanwhile). Returns the numbers this
    batch entered, each with the first sighting the registry now holds."""
    batch = earliest_sightings(rows)
    numbers = sorted(batch)
    stored: dict[str, tuple[Sighting, str]] = {}
    for chunk in chunks(numbers):
        for r in db.execute(f"SELECT {_ENTRY} FROM phones WHERE e164 IN ({marks(chunk)})", chunk):
            stored[r[0]] = (Sighting(r[1], r[2], r[3], r[4]), r[5])
    fresh = {e164: batch[e164] for e164 in numbers if e164 not in stored}
    changed = []
    for e164, (entry, last) in stored.items():
        now = (first_sighting(entry, batch[e164]), latest(last, last_seen[e164]) or last)
        if now != (entry, last):
            changed.append((*now[0], now[1], e164))
    db.executemany(f"INSERT INTO phones ({_ENTRY}) VALUES (?, ?, ?, ?, ?, ?)",
                   [(e164, *s, last_seen[e164]) for e164, s in fresh.items()])
    db.executemany("UPDATE phones SET first_seen_at = ?, first_town = ?, first_ad = ?, first_county = ?, "
                   "last_seen_at = ? WHERE e164 = ?", changed)
    return fresh


def refresh_counts(db: sqlite3.Connection, phones: set[str]) -> None:
    """Ads and towns of each touched number, recounted in one statement per 500 numbers."""
    for chunk in chunks(sorted(phones)):
        db.execute(
            "UPDATE phones SET ads_count = (SELECT count(*) FROM ad_phones p WHERE p.e164 = phones.e164), "
            "towns = (SELECT json_group_array(town) FROM (SELECT DISTINCT t.town FROM ad_phones p "
            "JOIN ad_towns t ON t.ad_id = p.ad_id WHERE p.e164 = phones.e164 ORDER BY t.town)) "
            f"WHERE e164 IN ({marks(chunk)})",
            chunk,
        )


def _entry(row: sqlite3.Row) -> dict[str, Any]:
    return dict(row) | {"towns": json.loads(row["towns"])}


class SqlitePhoneRegistry(SqliteBase):
    def phone_record(self, e164: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM phones WHERE e164 = ?", (e164,)).fetchone()
        return _entry(row) if row is not None else None

    def phone_ads(self, e164: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT a.* FROM ads a JOIN ad_phones p ON p.ad_id = a.id WHERE p.e164 = ? ORDER BY a.seen_date, a.id",
            (e164,),
        )
        return [self._ad(r) for r in rows]

    def phones_first_seen(self, since: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM phones WHERE first_seen_at >= ? ORDER BY first_seen_at, e164",
                               (since,))
        return [_entry(r) for r in rows]

    def phones_seen(self, since: str) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT p.e164 FROM ads a JOIN ad_phones p ON p.ad_id = a.id "
                               "WHERE a.last_seen_at >= ? ORDER BY 1", (since,))
        return [r[0] for r in rows]
