"""The Elasticsearch store's admin part: visibility of writes, the summary, closing, and the
indices themselves (drop, reindex into a new version, statistics)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from elasticsearch import helpers

from index.elastic.base import ElasticBase
from index.es_schema import KINDS


class ElasticAdmin(ElasticBase):
    def close(self) -> None:
        self.es.close()

    def drop(self) -> None:
        """Delete every index and template of this prefix (tests, ``index reindex``)."""
        for kind in KINDS:
            self.es.indices.delete(index=f"{self._alias(kind)}-v*", ignore_unavailable=True, allow_no_indices=True)
            self.es.options(ignore_status=404).indices.delete_index_template(name=self.layout.template(kind))

    def reindex(self, kinds: Iterable[str] = KINDS) -> dict[str, tuple[str, str, int]]:
        """Copy each index into a new version made from the current template (settings,
        analyzer, shards), then swap the alias: scroll + bulk, since a minimal node has no
        reindex module. Returns kind → (old index, new index, documents copied)."""
        self._ensure_indices()
        done = {}
        for kind in kinds:
            alias = self._alias(kind)
            (old,) = sorted(self.es.indices.get_alias(name=alias).body)
            number = int(old.rsplit("-v", 1)[1]) + 1
            new = self.layout.index(kind, number)
            self.es.indices.create(index=new)
            self.es.cluster.health(index=new, wait_for_status="yellow", timeout="30s")
            self.es.indices.refresh(index=old)
            copied = 0
            for ok, _ in helpers.streaming_bulk(
                self.es, ({"_op_type": "index", "_index": new, "_id": hit["_id"], "_source": hit["_source"]}
                          for hit in helpers.scan(self.es, index=old, size=1000)),
                chunk_size=self.bulk_chunk, max_retries=5, initial_backoff=0.5,
            ):
                copied += ok
            self.es.indices.update_aliases(actions=[
                {"remove": {"index": old, "alias": alias}},
                {"add": {"index": new, "alias": alias, "is_write_index": True}},
            ])
            self.es.indices.delete(index=old)
            done[kind] = (old, new, copied)
        return done

    def refresh(self) -> None:
        with self._available():
            # ignore_unavailable: a read-only open of an older cluster may lack the newer indices.
            self.es.indices.refresh(index=",".join(self._alias(k) for k in KINDS), ignore_unavailable=True)

    def index_stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in KINDS:
            alias = self._alias(kind)
            found = self.es.indices.get_alias(name=alias, ignore_unavailable=True)
            indices = sorted(found.body) if found.body else []
            count = self.es.count(index=alias)["count"] if indices else 0
            out[alias] = {"indices": indices, "docs": count}
        return out

    def summary(self, top: int = 10) -> dict[str, Any]:
        order = [{"_count": "desc"}, {"_key": "asc"}]
        with self._available():
            self.es.indices.refresh(index=f"{self._alias('ads')},{self._alias('phones')}")
            phones = self.es.count(index=self._alias("phones"))["count"]
            ads = self.es.search(
                index=self._alias("ads"), size=0, track_total_hits=True,
                aggs={"towns": {"cardinality": {"field": "town_names", "precision_threshold": 40000}},
                      "top_towns": {"terms": {"field": "town_names", "size": top, "order": order}},
                      "sources": {"terms": {"field": "source", "size": 1000, "order": order}},
                      "phones": {"terms": {"field": "phones", "size": max(1, min(phones, 65_000))},
                                 "aggs": {"towns": {"terms": {"field": "town_names", "size": 1000,
                                                              "order": {"_key": "asc"}}}}}})
        aggs = ads["aggregations"]
        per_phone = [{"e164": b["key"], "ads": b["doc_count"], "towns": [t["key"] for t in b["towns"]["buckets"]]}
                     for b in aggs["phones"]["buckets"]]
        per_phone.sort(key=lambda p: (-len(p["towns"]), -p["ads"], p["e164"]))
        return {
            "ads": ads["hits"]["total"]["value"],
            "phones": phones,
            "towns": aggs["towns"]["value"],
            "sources": {b["key"]: b["doc_count"] for b in aggs["sources"]["buckets"]},
            "top_towns": {b["key"]: b["doc_count"] for b in aggs["top_towns"]["buckets"]},
            "multi_town_phones": sum(1 for p in per_phone if len(p["towns"]) > 1),
            "top_phones": per_phone[:top],
        }
