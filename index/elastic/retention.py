"""The Elasticsearch store's retention part: what expired, its removal by id, evidence relocation.

A minimal node has no delete-by-query (it lives in the reindex module): what expired is found by
scanning, and removed by id in bulk, each step idempotent (a 404 is "already gone"), so a purge
that stopped half-way is finished by running it again. Each step refreshes, so the next step and
every search after it see the removal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

from elasticsearch import helpers

from index.elastic.base import CONFLICT_RETRIES, DocumentError, ElasticBase, es_iso
from index.elastic.phones import _update_entries
from index.rules import relocated
from index.store import StoreUnavailable

_CHUNK = 1000


class ElasticRetention(ElasticBase):
    def _scan(self, kind: str, query: dict[str, Any], fields: list[str] | bool) -> Iterator[dict[str, Any]]:
        self._ensure_indices()
        with self._available():
            self.es.indices.refresh(index=self._alias(kind))
            yield from helpers.scan(self.es, index=self._alias(kind), size=_CHUNK,
                                    query={"query": query, "_source": fields})

    def _delete(self, kind: str, ids: Iterable[str], what: str,
                versions: dict[str, tuple[int, int]] | None = None) -> int:
        """Bulk delete by id, in order; an id already gone is no error. ``versions``: (seq_no,
        primary_term) per id, deleted only if unchanged since (a 409 keeps it). Returns how many went."""
        removed = 0
        actions = ({"_op_type": "delete", "_index": self._alias(kind), "_id": i,
                    **({"if_seq_no": versions[i][0], "if_primary_term": versions[i][1]}
                       if versions and i in versions else {})} for i in ids)
        for ok, _, info in self._send(actions, what):
            if ok:
                removed += info.get("result") == "deleted"
            elif info.get("status") not in (404, 409):
                raise DocumentError(f"{what}: {info.get('_id')} not removed: {info.get('error')}")
        with self._available():
            self.es.indices.refresh(index=self._alias(kind))
        return removed

    # --- ads and versions -------------------------------------------------------------------
    def expired_ads(self, before: str) -> list[str]:
        hits = self._scan("ads", {"range": {"last_seen_at": {"lt": before}}}, ["last_seen_at"])
        return [i for _, i in sorted((str(h["_source"].get("last_seen_at")), h["_id"]) for h in hits)]

    def expired_versions(self, before: str) -> list[tuple[str, int]]:
        hits = self._scan("versions", {"range": {"replaced_at": {"lt": before}}}, ["ad_id", "version"])
        return sorted((str(h["_source"]["ad_id"]), int(h["_source"]["version"])) for h in hits)

    def purge_ads(self, ids: Sequence[str], before: str | None = None) -> int:
        removed = 0
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _CHUNK):
            ads = self._sources("ads", unique[start : start + _CHUNK], ["phones", "last_seen_at", "version"])
            if before is not None:  # seen again since the plan (a crawl meanwhile): kept
                ads = {i: d for i, d in ads.items() if str(es_iso(d.get("last_seen_at")) or "") < before}
            # The registry reads a number's last sighting from its ads; with them gone it keeps its own.
            last: dict[str, str] = {}
            for doc in ads.values():
                seen = es_iso(doc.get("last_seen_at"))
                for e164 in doc.get("phones") or []:
                    if seen and seen > last.get(e164, ""):
                        last[e164] = seen
            if last:
                _update_entries(self, sorted(last), _keep_last_seen(last))
            # Versions first: a crash between leaves the ad, which the next run finds expired again.
            versions = [f"{ad_id}:{n}" for ad_id, doc in ads.items()
                        for n in range(1, int(doc.get("version") or 1))]
            self._delete("versions", versions, "version(s)")
            # Compare-and-set: an ad a crawl rewrote since it was read (409) stays, for the next purge.
            removed += self._delete("ads", list(ads), "ad(s)",
                                    {i: (d["_seq_no"], d["_primary_term"]) for i, d in ads.items()})
        return removed

    def purge_versions(self, versions: Sequence[tuple[str, int]]) -> int:
        return self._delete("versions", (f"{ad_id}:{n}" for ad_id, n in versions), "version(s)")

    # --- registry, alerts, runs ---------------------------------------------------------------
    def _carried(self, numbers: list[str]) -> set[str]:
        """Which of these numbers some stored ad carries."""
        carried: set[str] = set()
        for start in range(0, len(numbers), _CHUNK):
            chunk = numbers[start : start + _CHUNK]
            with self._available():
                self.es.indices.refresh(index=self._alias("ads"))
                found = self.es.search(index=self._alias("ads"), size=0, query={"terms": {"phones": chunk}},
                                       aggs={"n": {"terms": {"field": "phones", "include": chunk,
                                                             "size": len(chunk)}}})
            carried |= {b["key"] for b in found["aggregations"]["n"]["buckets"]}
        return carried

    def orphan_phones(self, before: str) -> list[str]:
        query = {"bool": {"should": [
            {"range": {"last_seen_at": {"lt": before}}},
            {"bool": {"must_not": {"exists": {"field": "last_seen_at"}},
                      "filter": {"range": {"first_seen_at": {"lt": before}}}}}], "minimum_should_match": 1}}
        candidates = sorted(h["_id"] for h in self._scan("phones", query, False))
        carried = self._carried(candidates)
        return [e164 for e164 in candidates if e164 not in carried]

    def purge_phones(self, numbers: Sequence[str]) -> int:
        wanted = list(dict.fromkeys(numbers))
        carried = self._carried(wanted)  # a crawl may have brought a number back meanwhile
        return self._delete("phones", (n for n in wanted if n not in carried), "registry entr(ies)")

    def expired_alerts(self, before: str) -> list[tuple[str, str | None, str | None]]:
        hits = self._scan("alerts", {"range": {"created_at": {"lt": before}}}, ["ad", "phone"])
        return sorted((h["_id"], h["_source"].get("ad"), h["_source"].get("phone")) for h in hits)

    def purge_alerts(self, ids: Sequence[str]) -> int:
        return self._delete("alerts", ids, "alert(s)")

    def expired_runs(self, before: str) -> list[int]:
        query = {"bool": {"filter": {"range": {"started_at": {"lt": before}}},
                          "must_not": {"term": {"status": "running"}}}}
        return sorted(int(h["_id"]) for h in self._scan("runs", query, False))

    def purge_runs(self, ids: Sequence[int]) -> int:
        return self._delete("runs", (str(i) for i in ids), "run(s)")

    # --- the audit log ------------------------------------------------------------------------
    def _audit_edge(self, query: dict[str, Any], order: str) -> dict[str, Any] | None:
        self._ensure_indices()
        with self._available():
            self.es.indices.refresh(index=self._alias("audit"))
            found = self.es.search(index=self._alias("audit"), size=1, sort=[{"seq": order}], query=query,
                                   source_includes=["seq", "hash"])
        hits = found["hits"]["hits"]
        return dict(hits[0]["_source"]) if hits else None

    def expired_audit(self, before: str) -> tuple[int, str] | None:
        first_kept = self._audit_edge({"range": {"at": {"gte": before}}}, "asc")
        query: dict[str, Any] = {"range": {"seq": {"lt": first_kept["seq"]}}} if first_kept else {"match_all": {}}
        last = self._audit_edge(query, "desc")
        return (int(last["seq"]), str(last["hash"])) if last else None

    def audit_purge(self, through: int, user: str, action: str, params: dict[str, Any],
                    result_count: int | None, at: str) -> dict[str, Any]:
        # The entry first, then the old entries oldest first: a crash in between leaves the whole
        # chain, or its head cut at some seq <= through, which verify accepts from this entry.
        entry: dict[str, Any] = cast(Any, self).audit_append(user, action, params, result_count, at)  # the audit part's
        first = self._audit_edge({"match_all": {}}, "asc")
        if first is not None:
            upto = min(through, int(entry["seq"]) - 1)
            for start in range(int(first["seq"]), upto + 1, _CHUNK):
                self._delete("audit", (str(s) for s in range(start, min(start + _CHUNK, upto + 1))), "audit entr(ies)")
        return entry

    # --- evidence references ------------------------------------------------------------------
    def evidence_refs(self) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
        # evidence is kept, not indexed (enabled: false): every document is read.
        for hit in self._scan("ads", {"match_all": {}}, ["evidence"]):
            evidence = hit["_source"].get("evidence")
            if isinstance(evidence, dict) and "record_id" in evidence:
                yield hit["_id"], None, evidence
        for hit in self._scan("versions", {"match_all": {}}, ["ad_id", "version", "evidence"]):
            evidence = hit["_source"].get("evidence")
            if isinstance(evidence, dict) and "record_id" in evidence:
                yield str(hit["_source"]["ad_id"]), int(hit["_source"]["version"]), evidence

    def relocate_evidence(self, ad_ids: Iterable[str], warc: str, moves: dict[int, tuple[str, int]]) -> int:
        ids = sorted(set(ad_ids))
        changed = 0
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            changed += self._relocate_ads(chunk, warc, moves)
            versions = list(self._scan("versions", {"terms": {"ad_id": chunk}}, ["evidence"]))
            updates = []
            for hit in versions:  # versions are created once and never rewritten by a crawl
                evidence, count = relocated(hit["_source"].get("evidence"), warc, moves)
                if count:
                    changed += count
                    updates.append({"_op_type": "update", "_index": self._alias("versions"), "_id": hit["_id"],
                                    "doc": {"evidence": evidence}})
            self._bulk(updates, "version evidence")
        with self._available():
            self.es.indices.refresh(index=f"{self._alias('ads')},{self._alias('versions')}")
        return changed

    def _relocate_ads(self, ids: list[str], warc: str, moves: dict[int, tuple[str, int]]) -> int:
        """Compare-and-set (``if_seq_no``): an ad a crawl rewrote meanwhile is read again."""
        changed = 0
        pending = ids
        for _ in range(CONFLICT_RETRIES):
            if not pending:
                return changed
            docs = self._sources("ads", pending, ["evidence"])
            actions, counts = [], {}
            for ad_id, doc in docs.items():
                evidence, count = relocated(doc.get("evidence"), warc, moves)
                if count:
                    counts[ad_id] = count
                    actions.append({"_op_type": "update", "_index": self._alias("ads"), "_id": ad_id,
                                    "if_seq_no": doc["_seq_no"], "if_primary_term": doc["_primary_term"],
                                    "doc": {"evidence": evidence}})
            pending = []
            for ok, _, info in self._send(actions, "ad evidence"):
                if ok:
                    changed += counts[info["_id"]]
                elif info.get("status") == 409:
                    pending.append(info["_id"])
                elif info.get("status") != 404:  # purged meanwhile: nothing to point
                    raise DocumentError(f"ad evidence {info.get('_id')}: {info.get('error')}")
        if pending:
            raise StoreUnavailable(f"{self.url}: ads kept changing while their evidence moved: {pending[:5]}")
        return changed


def _keep_last_seen(last: dict[str, str]) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """A registry entry that remembers its number's last sighting from the ads about to go."""
    def change(e164: str, entry: dict[str, Any]) -> dict[str, Any]:
        return entry | {"last_seen_at": max(filter(None, (es_iso(entry.get("last_seen_at")), last[e164]))),
                        "purged_last_seen_at": max(filter(None, (es_iso(entry.get("purged_last_seen_at")),
                                                                 last[e164])))}
    return change
