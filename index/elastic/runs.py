"""The Elasticsearch store's crawl-run part: one document per crawl of a source.

Run documents refresh at once (two writes per crawl): "adwatch runs" and the next crawl's
"did the last one end ok" read them right away.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError

from adwatch.core.clock import now_iso
from adwatch.crawl_lock import lock_free, this_host
from index.elastic.base import CONFLICT_RETRIES, MAX_RESULTS, ElasticBase, es_iso
from index.rules import crashed, crashed_fields, new_run, run_fields
from index.store import StoreUnavailable


class ElasticRuns(ElasticBase):
    def start_run(self, source: str, started_at: str) -> int:
        self._ensure_indices()
        with self._available():
            for _ in range(CONFLICT_RETRIES):
                found = self.es.search(index=self._alias("runs"), size=0, aggs={"top": {"max": {"field": "id"}}})
                run_id = int(found["aggregations"]["top"]["value"] or 0) + 1
                try:  # create: two crawls starting at once cannot take the same id
                    self.es.create(index=self._alias("runs"), id=str(run_id), refresh=True,
                                   document={"id": run_id, **new_run(source, started_at)})
                    return run_id
                except ApiError as exc:
                    if exc.meta.status != 409:
                        raise
        raise StoreUnavailable(f"{self.url}: could not allocate a crawl run id")

    def finish_run(self, run_id: int, **fields: Any) -> None:
        changes = run_fields(fields)
        with self._available():
            self.es.update(index=self._alias("runs"), id=str(run_id), doc=changes, refresh=True)

    def mark_crashed(self, source: str | None = None, holding: str | None = None) -> dict[int, dict[str, Any]]:
        filters: list[dict[str, Any]] = [{"term": {"status": "running"}}]
        if source:
            filters.append({"term": {"source": source}})
        with self._available():
            found = self.es.search(index=self._alias("runs"), query={"bool": {"filter": filters}},
                                   size=MAX_RESULTS, seq_no_primary_term=True)
        host, found_at = this_host(), now_iso()
        marked: dict[int, dict[str, Any]] = {}
        for hit in found["hits"]["hits"]:
            if not crashed(hit["_source"], host, lock_free, holding):
                continue
            fields = crashed_fields(found_at)
            try:  # only the version we looked at: its crawl may have finished it since
                with self._available():
                    self.es.update(index=self._alias("runs"), id=hit["_id"], doc=fields, refresh=True,
                                   if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
            except ApiError as exc:
                if exc.meta.status != 409:
                    raise
                continue
            marked[int(hit["_source"]["id"])] = fields
        return marked

    def first_finished_run(self, source: str) -> str | None:
        self._ensure_indices()
        with self._available():
            found = self.es.search(index=self._alias("runs"), size=1, sort=[{"finished_at": "asc"}],
                                   query={"bool": {"filter": [{"term": {"source": source}},
                                                              {"terms": {"status": ["ok", "partial"]}},
                                                              {"exists": {"field": "finished_at"}}]}})
        hits = found["hits"]["hits"]
        return es_iso(hits[0]["_source"]["finished_at"]) if hits else None

    def runs(self, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first; a run whose crawl is gone is marked crashed first (``mark_crashed``)."""
        self.mark_crashed(source)
        query = {"term": {"source": source}} if source else {"match_all": {}}
        with self._available():
            found = self.es.search(index=self._alias("runs"), query=query, sort=[{"id": "desc"}],
                                   size=min(limit, MAX_RESULTS))
        return [hit["_source"] | {"stats": hit["_source"].get("stats") or {}} for hit in found["hits"]["hits"]]
