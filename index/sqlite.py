"""The default store: one SQLite file in WAL mode with an FTS5 index.

Every batch is one transaction (ads, phone links, town links, phone registry), so a
crash leaves the file consistent: a batch is either all there or not at all.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adwatch.core.clock import iso
from geo.distance import great_circle_km
from index.fts import to_fts
from index.query import SearchQuery, SearchResult
from index.sqlite_schema import LATEST, MIGRATIONS
from index.store import ALERT_FIELDS, STORED_AD_FIELDS, AdState, StoreUnavailable, WriteOutcome, waiting_channels
from index.trends import Counts, TrendQuery

_JSON_FIELDS = ("images", "phones", "phone_details", "contacts", "towns", "indicators", "evidence")
_AD_COLUMNS = (*STORED_AD_FIELDS, "seen_date")  # seen_date: posted, else first seen (date filters)
_FACET_LIMIT = 25
_DEFAULTS: dict[str, Any] = {"title": "", "text": "", "indicator_score": 0.0, "version": 1}


_INSERT_AD = f"INSERT INTO ads ({', '.join(_AD_COLUMNS)}) VALUES ({', '.join(f':{c}' for c in _AD_COLUMNS)})"
_UPSERT_AD = _INSERT_AD + " ON CONFLICT(id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _AD_COLUMNS if c != "id") + ", missing_count = 0"  # fetched: it is listed


# The first day of the period a timestamp falls in (UTC; weeks start on Monday).
_PERIOD_SQL = {
    "day": "substr({when}, 1, 10)",
    "week": "date(substr({when}, 1, 10), '-' || ((CAST(strftime('%w', substr({when}, 1, 10)) AS INTEGER) + 6) % 7) "
            "|| ' days')",
    "month": "substr({when}, 1, 7) || '-01'",
}


# "First seen" is the earliest sighting, whatever order the writes come in.
_UPSERT_PHONE = (
    "INSERT INTO phones (e164, first_seen_at, first_town, first_ad, last_seen_at, first_county) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(e164) DO UPDATE SET "
    "last_seen_at = max(last_seen_at, excluded.last_seen_at), "
    "first_town = CASE WHEN excluded.first_seen_at < first_seen_at THEN excluded.first_town ELSE first_town END, "
    "first_county = CASE WHEN excluded.first_seen_at < first_seen_at THEN excluded.first_county "
    "ELSE first_county END, "
    "first_ad = CASE WHEN excluded.first_seen_at < first_seen_at THEN excluded.first_ad ELSE first_ad END, "
    "first_seen_at = min(first_seen_at, excluded.first_seen_at)"
)


@dataclass
class _Links:
    """Rows one batch will write: per ad (phones, towns, categories), and registry upserts."""

    rows: dict[str, tuple[list[str], list[str], list[str]]] = field(default_factory=dict)
    registry: list[tuple[Any, ...]] = field(default_factory=list)


class SchemaTooNew(RuntimeError):
    pass


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class SqliteStore:
    def __init__(self, path: str | Path, readonly: bool = False, timeout: float = 30.0) -> None:
        self.path = Path(path)
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
        # Used by one thread at a time, but may be closed by another (a test's writer threads).
        self.db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.create_function("geo_km", 4, great_circle_km, deterministic=True)
        if not readonly:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            # A bigger page cache keeps the FTS and index pages of a batch in memory.
            self.db.execute("PRAGMA cache_size = -65536")
            self.db.execute("PRAGMA temp_store = MEMORY")
            self.migrate()

    # --- schema -----------------------------------------------------------------
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        current = self.schema_version()
        if current > LATEST:
            raise SchemaTooNew(f"{self.path}: schema v{current} is newer than this adwatch (v{LATEST})")
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self.schema_version() >= version:  # another process migrated while we waited
                    self.db.execute("COMMIT")
                    continue
                for statement in _split_sql(sql):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.db.close()

    def refresh(self) -> None:
        """Committed writes are visible at once."""

    # --- writes -----------------------------------------------------------------
    def ad_states(self, ids: Iterable[str]) -> dict[str, AdState]:
        out: dict[str, AdState] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT id, content_hash, version, first_seen_at FROM ads WHERE id IN ({marks})", chunk
            )
            for row in rows:
                out[row["id"]] = AdState(row["content_hash"], row["version"], row["first_seen_at"])
        return out

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        return set(self.ad_states(ids))

    def write_ads(self, ads: Sequence[dict[str, Any]]) -> WriteOutcome:
        new = updated = 0
        touched_phones: set[str] = set()
        with self._write_transaction():
            olds = self._old_rows([ad["id"] for ad in ads])
            pending = _Links()
            numbers = sorted({e164 for ad in ads for e164 in ad.get("phones") or []})
            for ad in ads:
                old = olds.get(ad["id"])
                row = self._write_one(ad, old)
                new += old is None
                updated += old is not None
                touched_phones.update(self._link(ad, old is None, pending))
                # The same ad twice in one batch: the second sees the first as stored.
                olds[ad["id"]] = {k: row[k] for k in ("content_hash", "version", "title", "text", "phones",
                                                       "first_seen_at")}
            # Inside this write transaction no other writer can register a number: the ones
            # missing from the registry now are new, and only to this batch.
            fresh = set(numbers) - self._registered(numbers)
            self._write_links(pending)
            self._refresh_phone_counts(touched_phones)
        return WriteOutcome(new, updated, frozenset(fresh), _first_sightings(pending.registry, fresh))

    def _registered(self, numbers: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(numbers):
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(f"SELECT e164 FROM phones WHERE e164 IN ({marks})", chunk))
        return found

    def _old_rows(self, ids: list[str]) -> dict[str, Any]:
        """The stored rows of these ads, in one query per 500 (not one per ad)."""
        out: dict[str, Any] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT id, content_hash, version, title, text, phones, first_seen_at FROM ads WHERE id IN ({marks})",
                chunk,
            ):
                out[row["id"]] = dict(row)
        return out

    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        """One write transaction; "locked past the timeout", read-only or a lost disk
        become StoreUnavailable (keep the data, retry later), anything else propagates."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback()
            raise StoreUnavailable(f"{self.path}: {exc}") from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _write_one(self, ad: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        row = {column: ad.get(column) for column in _AD_COLUMNS}
        row.update({k: v for k, v in _DEFAULTS.items() if row[k] is None})
        for name in _JSON_FIELDS:
            value = row[name]
            row[name] = "[]" if value is None and name != "evidence" or value == [] else json.dumps(value)
        row["seen_date"] = ad.get("posted_at") or ad.get("first_seen_at")
        if old is not None:
            # Keep the earliest first sighting whatever the item says.
            row["first_seen_at"] = min(filter(None, [old["first_seen_at"], row["first_seen_at"]]))
            row["seen_date"] = ad.get("posted_at") or row["first_seen_at"]
            if old["content_hash"] != row["content_hash"]:
                self.db.execute(
                    "INSERT OR IGNORE INTO ad_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (ad["id"], old["version"], old["content_hash"], old["title"], old["text"], old["phones"],
                     row["last_seen_at"]),
                )
                row["version"] = max(int(row["version"] or 1), old["version"] + 1)
            else:  # the same content again (say, from a crawl that could not ask the store)
                row["version"] = max(int(row["version"] or 1), old["version"])
        self.db.execute(_UPSERT_AD if old is not None else _INSERT_AD, row)
        return row

    def _link(self, ad: dict[str, Any], is_new: bool, pending: _Links) -> set[str]:
        """Queue the ad's phone, town and category rows and its registry upserts; the batch
        writes them with one executemany each (``_write_links``)."""
        ad_id = ad["id"]
        previous: set[str] = set()
        if not is_new:
            previous = {r[0] for r in self.db.execute("SELECT e164 FROM ad_phones WHERE ad_id = ?", (ad_id,))}
            for table in ("ad_phones", "ad_towns", "ad_categories"):
                self.db.execute(f"DELETE FROM {table} WHERE ad_id = ?", (ad_id,))
        phones = sorted(set(ad.get("phones") or []))
        towns = sorted({t["name"] for t in ad.get("towns") or [] if t.get("name")})
        categories = sorted({h["category"] for h in ad.get("indicators") or [] if h.get("category")})
        pending.rows[ad_id] = (phones, towns, categories)  # the same ad twice: its last version counts
        seen = ad.get("last_seen_at") or ad.get("first_seen_at")
        for e164 in phones:
            # A number new to this ad was first seen now (a later edit can add one), not
            # when the ad was. The upsert decides "first seen" atomically: inside this
            # transaction only one writer can create the row; the rest update it.
            first = ad.get("first_seen_at") if is_new else seen
            first = min(filter(None, [first, seen]))
            pending.registry.append((e164, first, ad.get("town"), ad_id, seen, ad.get("county")))
        return set(phones) | previous

    def _write_links(self, pending: _Links) -> None:
        rows = pending.rows.items()
        self.db.executemany("INSERT INTO ad_phones VALUES (?, ?)", [(a, p) for a, (ps, _, _) in rows for p in ps])
        self.db.executemany("INSERT INTO ad_towns VALUES (?, ?)", [(a, t) for a, (_, ts, _) in rows for t in ts])
        self.db.executemany("INSERT INTO ad_categories VALUES (?, ?)", [(a, c) for a, (_, _, cs) in rows for c in cs])
        self.db.executemany(_UPSERT_PHONE, pending.registry)

    def _refresh_phone_counts(self, phones: set[str]) -> None:
        """Ads and towns of each touched number, recounted in one statement per 500 numbers."""
        for chunk in _chunks(sorted(phones)):
            marks = ",".join("?" * len(chunk))
            self.db.execute(
                "UPDATE phones SET ads_count = (SELECT count(*) FROM ad_phones p WHERE p.e164 = phones.e164), "
                "towns = (SELECT json_group_array(town) FROM (SELECT DISTINCT t.town FROM ad_phones p "
                "JOIN ad_towns t ON t.ad_id = p.ad_id WHERE p.e164 = phones.e164 ORDER BY t.town)) "
                f"WHERE e164 IN ({marks})",
                chunk,
            )

    def touch(self, sightings: Sequence[tuple[str, str]]) -> int:
        if not sightings:
            return 0
        with self._write_transaction():
            matched = 0
            for ad_id, seen_at in sightings:
                cur = self.db.execute(
                    "UPDATE ads SET last_seen_at = max(last_seen_at, ?) WHERE id = ?", (seen_at, ad_id)
                )
                matched += cur.rowcount
                self.db.execute(
                    "UPDATE phones SET last_seen_at = max(last_seen_at, ?) "
                    "WHERE e164 IN (SELECT e164 FROM ad_phones WHERE ad_id = ?)",
                    (seen_at, ad_id),
                )
        return matched

    def mark_missing(self, source: str, listed: Iterable[str], seen_at: str, after: int) -> int:
        with self._write_transaction():
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS listed (id TEXT PRIMARY KEY)")
            self.db.execute("DELETE FROM temp.listed")
            self.db.executemany("INSERT OR IGNORE INTO temp.listed VALUES (?)", [(i,) for i in listed])
            self.db.execute(
                "UPDATE ads SET missing_count = 0, removed_at = NULL WHERE source = ? "
                "AND id IN (SELECT id FROM temp.listed) AND (missing_count > 0 OR removed_at IS NOT NULL)", (source,))
            self.db.execute(
                "UPDATE ads SET missing_count = missing_count + 1 WHERE source = ? AND removed_at IS NULL "
                "AND id NOT IN (SELECT id FROM temp.listed)", (source,))
            removed = self.db.execute(
                "UPDATE ads SET removed_at = ? WHERE source = ? AND removed_at IS NULL AND missing_count >= ?",
                (seen_at, source, max(1, after))).rowcount
            self.db.execute("DELETE FROM temp.listed")
        return int(removed)

    # --- reads ------------------------------------------------------------------
    @staticmethod
    def _ad(row: sqlite3.Row) -> dict[str, Any]:
        ad = dict(row)
        ad.pop("rowid", None)
        for name in _JSON_FIELDS:
            if name in ad and ad[name] is not None:
                ad[name] = json.loads(ad[name])
        ad.pop("seen_date", None)
        ad.pop("missing_count", None)
        return ad

    def get_ad(self, ad_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM ads WHERE id = ?", (ad_id,)).fetchone()
        return self._ad(row) if row else None

    def ad_versions(self, ad_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM ad_versions WHERE ad_id = ? ORDER BY version", (ad_id,))
        return [dict(r) | {"phones": json.loads(r["phones"] or "[]")} for r in rows]

    def _where(self, query: SearchQuery) -> tuple[str, str, list[Any]]:
        """FROM/JOIN clause, WHERE clause and parameters for a query."""
        params: list[Any] = []
        joins = "FROM ads a"
        where = ["1 = 1"]
        fts = to_fts(query.text)
        if fts.positive:
            joins += (
                " JOIN (SELECT rowid AS rid, bm25(ads_fts, 5.0, 1.0) AS rank FROM ads_fts "
                "WHERE ads_fts MATCH ?) m ON m.rid = a.rowid"
            )
            params.append(fts.positive)
        if fts.negative:
            where.append("a.rowid NOT IN (SELECT rowid FROM ads_fts WHERE ads_fts MATCH ?)")
            params.append(fts.negative)
        if query.phone:
            where.append("a.id IN (SELECT ad_id FROM ad_phones WHERE e164 = ?)")
            params.append(query.phone)
        if query.towns:
            marks = ",".join("?" * len(query.towns))
            where.append(f"a.id IN (SELECT ad_id FROM ad_towns WHERE town IN ({marks}))")
            params.extend(query.towns)
        if query.sources:
            where.append(f"a.source IN ({','.join('?' * len(query.sources))})")
            params.extend(query.sources)
        if query.near is not None:
            # A box first (it can use plain comparisons), then the exact great-circle distance.
            lat_pad = query.near.km / 111.0
            lon_pad = query.near.km / max(1e-6, 111.0 * math.cos(math.radians(min(89.0, abs(query.near.lat)))))
            where.append("a.lat BETWEEN ? AND ? AND a.lon BETWEEN ? AND ? AND geo_km(a.lat, a.lon, ?, ?) <= ?")
            params.extend([query.near.lat - lat_pad, query.near.lat + lat_pad, query.near.lon - lon_pad,
                           query.near.lon + lon_pad, query.near.lat, query.near.lon, query.near.km])
        if query.categories:
            marks = ",".join("?" * len(query.categories))
            where.append(f"a.id IN (SELECT ad_id FROM ad_categories WHERE category IN ({marks}))")
            params.extend(query.categories)
        if query.min_score is not None:
            where.append("a.indicator_score >= ?")
            params.append(query.min_score)
        if query.since:
            where.append("a.seen_date >= ?")
            params.append(iso(query.since))
        if query.until:
            where.append("a.seen_date < ?")
            params.append(iso(query.until))
        return joins, " AND ".join(where), params

    def search(self, query: SearchQuery) -> SearchResult:
        joins, where, params = self._where(query)
        has_rank = "JOIN (SELECT rowid AS rid" in joins
        rank = "m.rank" if has_rank else "0.0"
        if query.effective_sort == "relevance" and has_rank:
            order = "h.rank, h.seen_date DESC, h.id"
        elif query.effective_sort == "score":
            order = "h.indicator_score DESC, h.seen_date DESC, h.id"
        else:
            order = "h.seen_date DESC, h.id"
        # The query runs once, into a temporary table; the count, the page and the facets
        # all read that instead of running it three or four times.
        self.db.execute("DROP TABLE IF EXISTS temp.hits")
        self.db.execute(
            f"CREATE TEMP TABLE hits AS SELECT a.rowid AS rid, a.id AS id, a.source AS source, "
            f"a.seen_date AS seen_date, a.indicator_score AS indicator_score, {rank} AS rank {joins} WHERE {where}",
            params,
        )
        try:
            total = self.db.execute("SELECT count(*) FROM temp.hits").fetchone()[0]
            page = [row[0] for row in self.db.execute(
                f"SELECT rid FROM temp.hits h ORDER BY {order} LIMIT ? OFFSET ?",
                [max(0, query.limit), max(0, query.offset)])]
            found = {row["rowid"]: row for row in self.db.execute(
                f"SELECT rowid, * FROM ads WHERE rowid IN ({','.join('?' * len(page))})", page)} if page else {}
            facets: dict[str, dict[str, int]] = {}
            if query.facets:
                facets["town"] = self._facet(
                    "SELECT t.town, count(*) FROM temp.hits h JOIN ad_towns t ON t.ad_id = h.id "
                    f"GROUP BY t.town ORDER BY 2 DESC, 1 LIMIT {_FACET_LIMIT}", [])
                facets["source"] = self._facet(
                    "SELECT source, count(*) FROM temp.hits GROUP BY source ORDER BY 2 DESC, 1", [])
        finally:
            self.db.execute("DROP TABLE IF EXISTS temp.hits")
        return SearchResult(total=total, hits=[self._ad(found[rid]) for rid in page], facets=facets)

    def trend_counts(self, query: TrendQuery) -> Counts:
        """Counts per (period, town or county) for one metric: SQL GROUP BY."""
        if query.metric == "new_phones":
            table, when, key = "phones a", "a.first_seen_at", "a.first_town" if query.by == "town" else "a.first_county"
        else:
            table = "ads a"
            when = "a.first_seen_at" if query.metric == "new_ads" else "a.seen_date"
            key = "a.town" if query.by == "town" else "a.county"
        where: list[str] = [f"{key} IS NOT NULL"]
        params: list[Any] = []
        if query.since:
            where.append(f"{when} >= ?")
            params.append(iso(query.since))
        if query.until:
            where.append(f"{when} < ?")
            params.append(iso(query.until))
        if query.keys:
            where.append(f"{key} IN ({','.join('?' * len(query.keys))})")
            params.extend(query.keys)
        if query.metric == "flagged":
            where.append("a.indicator_score >= ?")
            params.append(query.flag_threshold)
        counted = "count(*)"
        if query.metric == "phones":
            table += " JOIN ad_phones p ON p.ad_id = a.id"
            counted = "count(DISTINCT p.e164)"
        period = _PERIOD_SQL[query.interval].format(when=when)
        rows = self.db.execute(
            f"SELECT {period} AS period, {key} AS k, {counted} FROM {table} WHERE {' AND '.join(where)} "
            "GROUP BY period, k", params)
        return {(row[0], row[1]): row[2] for row in rows}

    def _facet(self, sql: str, params: list[Any]) -> dict[str, int]:
        return {row[0]: row[1] for row in self.db.execute(sql, params)}

    def phone_record(self, e164: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM phones WHERE e164 = ?", (e164,)).fetchone()
        if row is None:
            return None
        return dict(row) | {"towns": json.loads(row["towns"])}

    def phone_ads(self, e164: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT a.* FROM ads a JOIN ad_phones p ON p.ad_id = a.id WHERE p.e164 = ? "
            "ORDER BY a.seen_date, a.id",
            (e164,),
        )
        return [self._ad(r) for r in rows]

    def phones_first_seen(self, since: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM phones WHERE first_seen_at >= ? ORDER BY first_seen_at, e164",
                               (since,))
        return [dict(r) | {"towns": json.loads(r["towns"])} for r in rows]

    def phones_seen(self, since: str) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT p.e164 FROM ads a JOIN ad_phones p ON p.ad_id = a.id "
                               "WHERE a.last_seen_at >= ? ORDER BY 1", (since,))
        return [r[0] for r in rows]

    # --- alerts -----------------------------------------------------------------
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

    # --- crawl runs -------------------------------------------------------------
    def start_run(self, source: str, started_at: str) -> int:
        cur = self.db.execute("INSERT INTO crawl_runs (source, started_at) VALUES (?, ?)", (source, started_at))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, **fields: Any) -> None:
        allowed = {"finished_at", "status", "pages", "new_ads", "updated_ads", "removed_ads", "errors", "reason",
                   "stats"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown crawl run fields: {sorted(unknown)}")
        if "stats" in fields:
            fields["stats"] = json.dumps(fields["stats"], default=str)
        sets = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(f"UPDATE crawl_runs SET {sets} WHERE id = ?", [*fields.values(), run_id])

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

    def summary(self, top: int = 10) -> dict[str, Any]:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "ads": one("SELECT count(*) FROM ads"),
            "phones": one("SELECT count(*) FROM phones"),
            "towns": one("SELECT count(DISTINCT town) FROM ad_towns"),
            "sources": self._facet("SELECT source, count(*) FROM ads GROUP BY source ORDER BY 2 DESC", []),
            "top_towns": self._facet(
                f"SELECT town, count(*) FROM ad_towns GROUP BY town ORDER BY 2 DESC, 1 LIMIT {int(top)}", []
            ),
            "multi_town_phones": one("SELECT count(*) FROM phones WHERE json_array_length(towns) > 1"),
            "top_phones": [
                {"e164": r["e164"], "ads": r["ads_count"], "towns": json.loads(r["towns"])}
                for r in self.db.execute(
                    "SELECT e164, ads_count, towns FROM phones "
                    f"ORDER BY json_array_length(towns) DESC, ads_count DESC, e164 LIMIT {int(top)}"
                )
            ],
        }


def _first_sightings(rows: list[tuple[Any, ...]], numbers: set[str]) -> dict[str, tuple[str, str]]:
    """What the registry upsert keeps for each number: the earliest sighting, the first row on ties."""
    firsts: dict[str, tuple[str, str]] = {}
    for e164, first, _town, ad_id, _seen, _county in rows:
        if e164 in numbers and (e164 not in firsts or first < firsts[e164][1]):
            firsts[e164] = (ad_id, first)
    return firsts


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (triggers contain ';' inside BEGIN … END)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
