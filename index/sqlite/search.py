"""The SQLite store's ads part, reading side: full-text search with filters and facets, trend counts."""

from __future__ import annotations

import math
from typing import Any

from adwatch.core.clock import iso
from index.fts import to_fts
from index.query import SearchQuery, SearchResult
from index.sqlite.base import SqliteBase
from index.trends import Counts, TrendQuery

_FACET_LIMIT = 25

# The first day of the period a timestamp falls in (UTC; weeks start on Monday).
_PERIOD_SQL = {
    "day": "substr({when}, 1, 10)",
    "week": "date(substr({when}, 1, 10), '-' || ((CAST(strftime('%w', substr({when}, 1, 10)) AS INTEGER) + 6) % 7) "
            "|| ' days')",
    "month": "substr({when}, 1, 7) || '-01'",
}


class SqliteAdSearch(SqliteBase):
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
