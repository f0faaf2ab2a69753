"""The Elasticsearch store's saved-searches part: an analyst's queries, checked against every written batch.

Writes refresh at once (few, made by hand): the list an analyst sees right after saving, and
the alert check of the next batch, must hold the new search.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, NotFoundError

from index.elastic.base import MAX_RESULTS, ElasticBase, es_iso
from index.saved import SAVED_FIELDS, new_saved_search


class ElasticSavedSearches(ElasticBase):
    def save_search(self, owner: str, name: str, query: dict[str, Any], created_at: str) -> dict[str, Any]:
        record = new_saved_search(owner, name, query, created_at)
        self._ensure_indices()
        with self._available():
            # create: a random id that clashed would be refused, never overwrite another's search
            self.es.create(index=self._alias("saved"), id=record["id"], document=record, refresh=True)
        return record

    def saved_searches(self, owner: str | None = None) -> list[dict[str, Any]]:
        self._ensure_indices()
        query: dict[str, Any] = {"term": {"owner": owner}} if owner is not None else {"match_all": {}}
        try:
            with self._available():
                found = self.es.search(index=self._alias("saved"), query=query, size=MAX_RESULTS,
                                       sort=[{"created_at": "asc"}, {"id": "asc"}])
        except NotFoundError:  # an index made before saved searches existed, opened read-only: none yet
            return []
        return [{name: hit["_source"].get(name) for name in SAVED_FIELDS}
                | {"created_at": es_iso(hit["_source"].get("created_at")), "query": hit["_source"].get("query") or {}}
                for hit in found["hits"]["hits"]]

    def delete_saved_search(self, search_id: str, owner: str | None = None) -> bool:
        # get, then delete that version: a minimal node has no delete-by-query (reindex module)
        if not search_id or len(search_id.encode("utf-8", "replace")) > 512:  # no such document id can exist
            return False
        self._ensure_indices()
        try:
            with self._available():
                found = self.es.get(index=self._alias("saved"), id=search_id)
            if owner is not None and found["_source"].get("owner") != owner:
                return False
            with self._available():
                self.es.delete(index=self._alias("saved"), id=search_id, refresh=True,
                               if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"])
        except NotFoundError:
            return False
        except ApiError as exc:
            if exc.meta.status == 409:  # deleted (saved searches are never changed) by another request meanwhile
                return False
            raise
        return True
