"""The Elasticsearch store's audit-log part: one document per entry, its id the entry's seq.

The chain itself is ``index/audit_chain.py``. Appends never fork it, whoever writes at once:
the next entry is created with ``op_type=create`` under id ``seq``, so of two writers that
read the same last entry exactly one gets that seq; the other gets a 409, reads the entry
that won (a realtime GET by id, visible before any refresh) and tries the seq after it.
Writes refresh at once, so the next append's search for the last entry finds this one.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, NotFoundError

from adwatch.core.clock import now_iso
from index.audit_chain import chained
from index.elastic.base import MAX_RESULTS, ElasticBase
from index.store import AUDIT_FIELDS, StoreUnavailable

# Each 409 means another writer appended an entry meanwhile, so every retry makes progress;
# the bound only stops a loop that something outside adwatch keeps feeding.
APPEND_RETRIES = 1000


def _entry(source: dict[str, Any]) -> dict[str, Any]:
    return {name: source.get(name) for name in AUDIT_FIELDS}


class ElasticAudit(ElasticBase):
    def _audit_last(self) -> dict[str, Any] | None:
        with self._available():
            found = self.es.search(index=self._alias("audit"), size=1, sort=[{"seq": "desc"}],
                                   query={"exists": {"field": "seq"}})
        hits = found["hits"]["hits"]
        return _entry(hits[0]["_source"]) if hits else None

    def audit_append(self, user: str, action: str, params: dict[str, Any], result_count: int | None,
                     at: str | None = None) -> dict[str, Any]:
        self._ensure_indices()
        at = at or now_iso()
        try:
            last = self._audit_last()
            for _ in range(APPEND_RETRIES):
                entry = chained(last, user, action, params, result_count, at)
                try:
                    with self._available():
                        # require_alias: an index made before the audit log, opened without creating
                        # indices, must not get an unmapped "<prefix>-audit" index made on the fly.
                        self.es.create(index=self._alias("audit"), id=str(entry["seq"]), document=entry,
                                       refresh=True, require_alias=True)
                    return entry
                except ApiError as exc:
                    if exc.meta.status != 409:
                        raise
                try:  # that seq is taken: the entry that took it is the new last one
                    with self._available():
                        won = self.es.get(index=self._alias("audit"), id=str(entry["seq"]))
                    last = _entry(won["_source"])
                except NotFoundError:  # taken and gone again (someone deleting entries): look afresh
                    last = self._audit_last()
        except NotFoundError as exc:
            raise StoreUnavailable(f"{self.url}: no audit index {self._alias('audit')} "
                                   "(open the store writable once, or run 'adwatch index create')") from exc
        except ApiError as exc:  # refused for any other reason: nothing is shown that is not logged
            raise StoreUnavailable(f"{self.url}: audit entry not written: {exc.meta.status} {exc.message}") from exc
        raise StoreUnavailable(f"{self.url}: the audit log kept growing under this append ({APPEND_RETRIES} tries)")

    def _audit_search(self, query: dict[str, Any], sort: str, size: int, offset: int = 0) -> list[dict[str, Any]]:
        self._ensure_indices()
        size = max(0, min(size, MAX_RESULTS - offset))  # Elasticsearch's result window
        if size == 0:
            return []
        try:
            with self._available():
                self.es.indices.refresh(index=self._alias("audit"))
                found = self.es.search(index=self._alias("audit"), query=query, sort=[{"seq": sort}],
                                       size=size, from_=offset)
        except NotFoundError:  # an index made before the audit log, opened read-only: nothing logged there
            return []
        return [_entry(hit["_source"]) for hit in found["hits"]["hits"]]

    def audit_entries(self, user: str | None = None, since: str | None = None, action: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = [{"exists": {"field": "seq"}}]
        if user is not None:
            filters.append({"term": {"user": user}})
        if since is not None:
            filters.append({"range": {"at": {"gte": since}}})
        if action is not None:
            filters.append({"term": {"action": action}})
        return self._audit_search({"bool": {"filter": filters}}, "desc", limit, offset)

    def audit_chain(self, after_seq: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        # seq > after_seq, in order: verification pages through any length with no result window.
        return self._audit_search({"range": {"seq": {"gt": after_seq}}}, "asc", limit)
