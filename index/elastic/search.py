"""The Elasticsearch store's ads part, reading side: search with filters and facets, trend counts."""

from __future__ import annotations

from typing import Any

from adwatch.core.clock import iso
from index.elastic.base import MAX_RESULTS, ElasticBase
from index.es_query import facet_aggs, sort_clause, to_dsl
from index.query import SearchQuery, SearchResult
from index.trends import Counts, TrendQuery


class ElasticAdSearch(ElasticBase):
    def search(self, query: SearchQuery) -> SearchResult:
        size = max(0, query.limit)
        offset = max(0, query.offset)
        body: dict[str, Any] = {"query": to_dsl(query, self.analyzer), "sort": sort_clause(query),
                                "track_total_hits": True}
        if query.facets:
            body["aggs"] = facet_aggs()
        if offset + size > MAX_RESULTS:
            raise ValueError(f"--offset + --limit may not pass {MAX_RESULTS} with Elasticsearch")
        with self._available():
            found = self.es.search(index=self._alias("ads"), from_=offset, size=size, **body)
        facets = {name: {b["key"]: b["doc_count"] for b in agg["buckets"]}
                  for name, agg in (found.get("aggregations") or {}).items()}
        return SearchResult(total=found["hits"]["total"]["value"],
                            hits=[self._ad(hit["_source"]) for hit in found["hits"]["hits"]], facets=facets)

    def trend_counts(self, query: TrendQuery) -> Counts:
        """Counts per (period, town or county): ``terms`` × ``date_histogram`` aggregations."""
        if query.metric == "new_phones":
            index, when = self._alias("phones"), "first_seen_at"
            key = "first_town" if query.by == "town" else "first_county"
        else:
            index = self._alias("ads")
            when = "first_seen_at" if query.metric == "new_ads" else "seen_date"
            key = "town" if query.by == "town" else "county"
        filters: list[dict[str, Any]] = [{"exists": {"field": key}}]
        dates = {name: iso(value) for name, value in (("gte", query.since), ("lt", query.until)) if value}
        if dates:
            filters.append({"range": {when: dates}})
        if query.keys:
            filters.append({"terms": {key: list(query.keys)}})
        if query.metric == "flagged":
            filters.append({"range": {"indicator_score": {"gte": query.flag_threshold}}})
        histogram: dict[str, Any] = {"date_histogram": {"field": when, "calendar_interval": query.interval,
                                                        "format": "yyyy-MM-dd", "min_doc_count": 1}}
        if query.metric == "phones":
            histogram["aggs"] = {"phones": {"cardinality": {"field": "phones", "precision_threshold": 40000}}}
        with self._available():
            self.es.indices.refresh(index=index)
            found = self.es.search(index=index, size=0, query={"bool": {"filter": filters}},
                                   aggs={"keys": {"terms": {"field": key, "size": 10_000},
                                                  "aggs": {"periods": histogram}}})
        counts: Counts = {}
        for bucket in found["aggregations"]["keys"]["buckets"]:
            for period in bucket["periods"]["buckets"]:
                value = period["phones"]["value"] if query.metric == "phones" else period["doc_count"]
                counts[(period["key_as_string"], bucket["key"])] = int(value)
        return counts
