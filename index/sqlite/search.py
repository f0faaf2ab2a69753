"""The SQLite store's ads part, reading side: full-text search with filters and facets, trend counts."""

from __future__ import annotations

import json
import math
from typing import Any

from adwatch.core.clock import iso
from index.fts import to_fts
from index.query import SearchQuery, SearchResult
from index.query_lists import values
from index.sqlite.base import SqliteBase
from index.trends import Counts, TrendQuery

_FACET_LIMIT = 25
_INLINE_VALUES = 64  # longer lists go as one JSON parameter (SQLite limits a statement's variables)
_TIE_ROOM = 64  # hits read past a words-only page, to see the ads tied in rank with its last one

# The first day of the period a timestamp falls in (UTC; weeks start on Monday).
_PERIOD_SQL = {
    "day": "substr({when}, 1, 10)",
    "week": "date(substr({when}, 1, 10), '-' || ((CAST(strftime('%w', substr({when}, 1, 10)) AS INTEGER) + 6) % 7) "
            "|| ' days')",
    "month": "substr({when}, 1, 7) || '-01'",
}


def _one_of(expr: str, given: list[str], params: list[Any]) -> str:
    """``expr IN (…)`` with parameters only: ``?`` marks for a short list, else ``json_each``
    over one JSON array, so 10,000 values never meet the variable limit."""
    if len(given) <= _INLINE_VALUES:
        params.extend(given)
        return f"{expr} IN ({','.join('?' * len(given))})"
    params.append(json.dumps(given))
    return f"{expr} IN (SELECT value FROM json_each(?))"


def _top(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Count descending, then key ascending (code points: SQLite's BINARY collation and
    Elasticsearch's ``_key`` order of UTF-8 bytes agree with it); every source, else the first
    ``_FACET_LIMIT``."""
    out = {}
    for name in ("town", "source", "county", "language", "category"):
        ranked = sorted(counts[name].items(), key=lambda kv: (-kv[1], kv[0]))
        out[name] = dict(ranked if name == "source" else ranked[:_FACET_LIMIT])
    return out


class SqliteAdSearch(SqliteBase):
    def _where(self, query: SearchQuery, ranked: bool = True) -> tuple[str, str, list[Any]]:
        """FROM/JOIN clause, WHERE clause and parameters for a query. ``ranked``: the full-text
        hits joined with their bm25 rank as ``m.rank``; else a plain ``rowid IN (…)`` condition,
        which lets SQLite start from a narrower filter (a town: 185 ms → 9 ms for a common word)
        and computes no rank (a count or a sort by date or score does not need it)."""
        params: list[Any] = []
        joins = "FROM ads a"
        where = ["1 = 1"]
        fts = to_fts(query.text)
        if fts.positive and ranked:
            joins += (
                " JOIN (SELECT rowid AS rid, bm25(ads_fts, 5.0, 1.0) AS rank FROM ads_fts "
                "WHERE ads_fts MATCH ?) m ON m.rid = a.rowid"
            )
            params.append(fts.positive)
        elif fts.positive:
            where.append("a.rowid IN (SELECT rowid FROM ads_fts WHERE ads_fts MATCH ?)")
            params.append(fts.positive)
        if fts.negative:
            where.append("a.rowid NOT IN (SELECT rowid FROM ads_fts WHERE ads_fts MATCH ?)")
            params.append(fts.negative)
        if query.ids:
            # First: a short id list makes every other condition a check on a few rows.
            where.append(_one_of("a.id", values("ids", query.ids), params))
        if query.phone:
            where.append("a.id IN (SELECT ad_id FROM ad_phones WHERE e164 = ?)")
            params.append(query.phone)
        if query.towns:
            where.append("a.id IN (SELECT ad_id FROM ad_towns WHERE "
                         f"{_one_of('town', values('towns', query.towns), params)})")
        if query.primary_towns:
            where.append(_one_of("a.town", values("primary towns", query.primary_towns), params))
        if query.counties:
            where.append(_one_of("a.county", values("counties", query.counties), params))
        if query.languages:
            where.append(_one_of("a.language", values("languages", query.languages), params))
        if query.sources:
            # A source holds half the ads: with any other filter, that one should lead ("+": the
            # planner may not pick the source index; source and town took 110 ms, 8 ms without).
            others = bool(fts.positive or fts.negative or query.ids or query.phone or query.towns
                          or query.primary_towns or query.counties or query.languages or query.near
                          or query.categories or query.min_score is not None or query.since or query.until)
            where.append(_one_of("+a.source" if others else "a.source", values("sources", query.sources), params))
        if query.near is not None:
            # A box first (it can use plain comparisons), then the exact great-circle distance.
            lat_pad = query.near.km / 111.0
            lon_pad = query.near.km / max(1e-6, 111.0 * math.cos(math.radians(min(89.0, abs(query.near.lat)))))
            where.append("a.lat BETWEEN ? AND ? AND a.lon BETWEEN ? AND ? AND geo_km(a.lat, a.lon, ?, ?) <= ?")
            params.extend([query.near.lat - lat_pad, query.near.lat + lat_pad, query.near.lon - lon_pad,
                           query.near.lon + lon_pad, query.near.lat, query.near.lon, query.near.km])
        if query.categories:
            where.append("a.id IN (SELECT ad_id FROM ad_categories WHERE "
                         f"{_one_of('category', values('categories', query.categories), params)})")
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
        relevance = query.effective_sort == "relevance" and bool(to_fts(query.text).positive)
        joins, where, params = self._where(query, ranked=relevance)
        has_rank = "JOIN (SELECT rowid AS rid" in joins
        rank = "m.rank" if has_rank else "0.0"
        if relevance:
            order = "h.rank, h.seen_date DESC, h.id"
        elif query.effective_sort == "score":
            order = "h.indicator_score DESC, h.seen_date DESC, h.id"
        else:
            order = "h.seen_date DESC, h.id"
        unfiltered = joins == "FROM ads a" and where == "1 = 1"
        own_snapshot = not self.db.in_transaction
        if own_snapshot:
            # One read snapshot for the hits, the page and the facets: a batch written meanwhile
            # never makes the counts disagree with each other (the facets below subtract).
            self.db.execute("BEGIN")
        try:
            facets: dict[str, dict[str, int]] = {}
            if not query.facets and not unfiltered:
                total, page = self._count_and_page(query, order)
            elif unfiltered:
                # Every ad: the count, the page and the facets come straight from the indexes.
                total = self.db.execute("SELECT count(*) FROM ads").fetchone()[0]
                page = [row[0] for row in self.db.execute(
                    f"SELECT rowid FROM ads h ORDER BY {order} LIMIT ? OFFSET ?",
                    [max(0, query.limit), max(0, query.offset)])]
                facets = self._all_facets() if query.facets else {}
            else:
                # The query runs once, into a temporary table; the count, the page and the
                # facets all read that instead of running it three or four times.
                self.db.execute("DROP TABLE IF EXISTS temp.hits")
                self.db.execute(
                    f"CREATE TEMP TABLE hits AS SELECT a.rowid AS rid, a.id AS id, a.source AS source, "
                    f"a.seen_date AS seen_date, a.indicator_score AS indicator_score, a.county AS county, "
                    f"a.language AS language, {rank} AS rank {joins} WHERE {where}",
                    params,
                )
                total = self.db.execute("SELECT count(*) FROM temp.hits").fetchone()[0]
                page = [row[0] for row in self.db.execute(
                    f"SELECT rid FROM temp.hits h ORDER BY {order} LIMIT ? OFFSET ?",
                    [max(0, query.limit), max(0, query.offset)])]
                facets = self._hit_facets(total) if query.facets else {}
            found = {row["rowid"]: row for row in self.db.execute(
                f"SELECT rowid, * FROM ads WHERE rowid IN ({','.join('?' * len(page))})", page)} if page else {}
        finally:
            self.db.execute("DROP TABLE IF EXISTS temp.hits")
            self.db.execute("DROP TABLE IF EXISTS temp.misses")
            if own_snapshot and self.db.in_transaction:
                self.db.execute("COMMIT")
        return SearchResult(total=total, hits=[self._ad(found[rid]) for rid in page], facets=facets)

    def _count_and_page(self, query: SearchQuery, order: str) -> tuple[int, list[int]]:
        """Without facets the hits need not be kept: a count (no ranking) and one page, each read
        straight from the indexes — a wide search (most ads match) skips writing every hit down."""
        joins, where, params = self._where(query, ranked=False)
        relevance = order.startswith("h.rank")
        only_words = where == "1 = 1 AND a.rowid IN (SELECT rowid FROM ads_fts WHERE ads_fts MATCH ?)"
        if only_words:
            # Words and nothing else: the full-text index alone answers (its triggers keep one row
            # per ad); only the page's ads (and those tied with its last) are read.
            total = self.db.execute("SELECT count(*) FROM ads_fts WHERE ads_fts MATCH ?", params).fetchone()[0]
            if relevance and total and query.offset < total:
                page = self._words_page(params[0], query.offset, query.limit, total)
                if page is not None:
                    return total, page
        else:
            total = self.db.execute(f"SELECT count(*) {joins} WHERE {where}", params).fetchone()[0]
        if not total or query.offset >= total:
            return total, []
        if relevance:
            joins, where, params = self._where(query, ranked=True)
        page = [row[0] for row in self.db.execute(
            f"SELECT a.rowid {joins} WHERE {where} ORDER BY {order.replace('h.', 'a.').replace('a.rank', 'm.rank')} "
            "LIMIT ? OFFSET ?", [*params, max(0, query.limit), max(0, query.offset)])]
        return total, page

    def _words_page(self, match: str, offset: int, limit: int, total: int) -> list[int] | None:
        """One page of a words-only search in the order every other path gives (rank, then newest,
        then id), read from the full-text index: the best ``offset + limit`` by rank and the hits
        tied with the last of them, then only those ads' dates. None when the ties run past what
        was read (then the caller joins every hit, as the other paths do)."""
        wanted = max(0, offset) + max(0, limit)
        if wanted == 0:
            return []
        ranked = self.db.execute(
            "SELECT rowid, bm25(ads_fts, 5.0, 1.0) AS r FROM ads_fts WHERE ads_fts MATCH ? ORDER BY r LIMIT ?",
            [match, wanted + _TIE_ROOM]).fetchall()
        last = ranked[min(wanted, len(ranked)) - 1][1]
        if len(ranked) < total and ranked[-1][1] == last:
            return None  # more than _TIE_ROOM ads share the boundary's rank
        chosen = {rowid: rank for rowid, rank in ranked if rank <= last}
        rows = self.db.execute(f"SELECT rowid, seen_date, id FROM ads WHERE rowid IN ({','.join('?' * len(chosen))})",
                               list(chosen)).fetchall()
        # rank ascending, then seen_date descending with missing dates last, then id ascending
        rows.sort(key=lambda row: row[2])
        rows.sort(key=lambda row: row[1] or "", reverse=True)
        rows.sort(key=lambda row: chosen[row[0]])
        return [row[0] for row in rows][max(0, offset):wanted]

    # --- facets -------------------------------------------------------------------
    # Every facet counts ads per key: ``town`` any town the ad names, ``category`` its indicator
    # categories, ``source``, and the primary ``county`` and ``language`` (what the county and
    # language filters match; an ad without one is in no bucket, as in Elasticsearch's terms
    # aggregation). Ordered by count, then key; ``_FACET_LIMIT`` keys, every source.

    def _counts(self, rows: str | None) -> dict[str, dict[str, int]]:
        """Every key's count over the ads in temp table ``rows``, or over all ads (None: read
        from the link tables and indexes alone, no sort; a link row exists only with its ad)."""
        if rows is None:
            sql = {"town": "SELECT town, count(*) FROM ad_towns GROUP BY town",
                   "category": "SELECT category, count(*) FROM ad_categories GROUP BY category",
                   **{name: f"SELECT {name}, count(*) FROM ads WHERE {name} IS NOT NULL GROUP BY {name}"
                      for name in ("source", "county", "language")}}
        else:
            # CROSS JOIN keeps the rows as the outer loop (one index look-up each): the planner
            # otherwise builds an automatic index over all of them first, twice as slow.
            sql = {"town": f"SELECT t.town, count(*) FROM temp.{rows} h CROSS JOIN ad_towns t ON t.ad_id = h.id "
                           "GROUP BY t.town",
                   "category": f"SELECT c.category, count(*) FROM temp.{rows} h "
                               "CROSS JOIN ad_categories c ON c.ad_id = h.id GROUP BY c.category",
                   **{name: f"SELECT {name}, count(*) FROM temp.{rows} WHERE {name} IS NOT NULL GROUP BY {name}"
                      for name in ("source", "county", "language")}}
        return {name: self._facet(q, []) for name, q in sql.items()}

    def _all_facets(self) -> dict[str, dict[str, int]]:
        return _top(self._counts(None))

    def _hit_facets(self, total: int) -> dict[str, dict[str, int]]:
        """Facets over temp.hits. When most ads are hits (a common word, a wide area), counting
        the few misses and subtracting them from the index counts is the cheaper way round."""
        everything = self.db.execute("SELECT count(*) FROM ads").fetchone()[0]
        if total * 4 <= everything * 3:  # measured on 100,000 ads: the misses way wins past ~3/4
            return _top(self._counts("hits"))
        self.db.execute("DROP TABLE IF EXISTS temp.misses")
        # The misses' rowids from a small covering index, then their rows: a scan of the ads
        # table itself reads every ad's text and was twice as slow.
        self.db.execute("CREATE TEMP TABLE misses AS SELECT a.rowid AS rid, a.id AS id, a.source AS source, "
                        "a.county AS county, a.language AS language FROM ads a WHERE a.rowid IN "
                        "(SELECT x.rowid FROM ads x WHERE x.rowid NOT IN (SELECT rid FROM temp.hits))")
        counts = self._counts(None)
        for name, missed in self._counts("misses").items():
            counted = counts[name]
            for key, n in missed.items():
                counted[key] = counted.get(key, 0) - n
        return _top({name: {k: n for k, n in counted.items() if n > 0} for name, counted in counts.items()})

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
