"""The Elasticsearch store's crawl-run part: one document per crawl of a source.

Run documents refresh at once (two writes per crawl): "adwatch runs" and the next crawl's
"did the last one end ok" read them right away.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError

from index.elastic.base import CONFLICT_RETRIES, MAX_RESULTS, ElasticBase, es_iso
from index.rules import new_run, run_fields
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
        query = {"term": {"source": source}} if source else {"match_all": {}}
        with self._available():
            found = self.es.search(index=self._alias("runs"), query=query, sort=[{"id": "desc"}],
                                   size=min(limit, MAX_RESULTS))
        return [hit["_source"] | {"stats": hit["_source"].get("stats") or {}} for hit in found["hits"]["hits"]]
