"""The Elasticsearch store: the ``Store`` protocol on an Elasticsearch 8 cluster.

- Ads, the phone registry, ad versions and crawl runs are four versioned indices behind
  aliases (``index/es_schema.py``); ``create`` makes them from index templates.
- Writes go through ``helpers.streaming_bulk`` with idempotent ids (the ad id), retried
  with backoff on 429; a node that cannot be reached (or answers 5xx) raises
  ``StoreUnavailable`` so the store stage spools the batch and the crawl goes on.
- No scripts (a minimal node has no painless): "first seen" of a number is decided by
  ``op_type=create`` (a 409 means the number is known); later changes to a registry
  entry are read-modify-write with optimistic concurrency (``if_seq_no``), retried on
  conflict, so two writers never lose each other's updates.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError, helpers

from adwatch.core.clock import iso
from index.es_query import facet_aggs, sort_clause, to_dsl
from index.es_schema import KINDS, Layout, search_words, template
from index.query import SearchQuery, SearchResult
from index.store import ALERT_FIELDS, STORED_AD_FIELDS, AdState, StoreUnavailable, WriteOutcome, waiting_channels
from index.trends import Counts, TrendQuery

_AD_FIELDS = STORED_AD_FIELDS
_DEFAULTS: dict[str, Any] = {"title": "", "text": "", "indicator_score": 0.0, "version": 1, "images": [],
                             "phones": [], "phone_details": [], "contacts": [], "towns": [], "indicators": []}
# The transport logs each failed attempt with a traceback; the store reports an unreachable
# node once, as StoreUnavailable, and the store stage logs one line for it.
logging.getLogger("elastic_transport").setLevel(logging.ERROR)
_CONFLICT_RETRIES = 20
_MAX_RESULTS = 10_000  # one page of phone_ads / runs; Elasticsearch's default result window


_First = tuple[str, str | None, str, str | None]  # first seen, town, ad id, county


class DocumentError(ValueError):
    """Elasticsearch refused documents for their content (kept by the store stage)."""


def _min(*values: str | None) -> str | None:
    present = [v for v in values if v]
    return min(present) if present else None


def _max(*values: str | None) -> str | None:
    present = [v for v in values if v]
    return max(present) if present else None


class ElasticStore:
    def __init__(self, url: str, *, prefix: str = "adwatch", analyzer: str = "standard", shards: int = 1,
                 replicas: int = 0, timeout: float = 10.0, bulk_chunk: int = 500, create: bool = True) -> None:
        self.url = url
        self.layout = Layout(prefix)
        self.analyzer = analyzer
        self.shards, self.replicas = shards, replicas
        self.bulk_chunk = bulk_chunk
        # Few, quick retries: a node that is down should spool the batch soon, not stall the crawl.
        self.es = Elasticsearch(url, request_timeout=timeout, max_retries=2, retry_on_timeout=True)
        self.ready = not create  # indices made (or not ours to make)
        if create:
            try:
                self._ensure_indices()
            except StoreUnavailable:
                pass  # a node that is down now: writes spool until it is back, then the indices are made

    def _ensure_indices(self) -> None:
        if not self.ready:
            with self._available():
                self.create()
            self.ready = True

    # --- plumbing ---------------------------------------------------------------
    def _available(self) -> _Guard:
        return _Guard(self.url)

    def _alias(self, kind: str) -> str:
        return self.layout.alias(kind)

    def close(self) -> None:
        self.es.close()

    # --- indices ----------------------------------------------------------------
    def create(self) -> list[str]:
        """Templates, then every missing index with its alias; returns the indices made."""
        made = []
        for kind in KINDS:
            self.es.indices.put_index_template(
                name=self.layout.template(kind),
                **template(self.layout, kind, shards=self.shards, replicas=self.replicas, analyzer=self.analyzer))
            if not self.es.indices.exists_alias(name=self._alias(kind)):
                index = self.layout.index(kind)
                if not self.es.indices.exists(index=index):
                    self.es.indices.create(index=index, aliases={self._alias(kind): {"is_write_index": True}})
                    made.append(index)
                else:
                    self.es.indices.put_alias(index=index, name=self._alias(kind))
        if made:
            self.es.cluster.health(index=",".join(made), wait_for_status="yellow", timeout="30s")
        return made

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
            self.es.indices.refresh(index=",".join(self._alias(k) for k in KINDS))

    def index_stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in KINDS:
            alias = self._alias(kind)
            found = self.es.indices.get_alias(name=alias, ignore_unavailable=True)
            indices = sorted(found.body) if found.body else []
            count = self.es.count(index=alias)["count"] if indices else 0
            out[alias] = {"indices": indices, "docs": count}
        return out

    # --- writes -----------------------------------------------------------------
    def _bulk(self, actions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send actions; return the per-document failures other than "already exists"."""
        failures: list[dict[str, Any]] = []
        with self._available():
            for ok, result in helpers.streaming_bulk(
                self.es, actions, chunk_size=self.bulk_chunk, max_retries=5, initial_backoff=0.5, max_backoff=10,
                raise_on_error=False, raise_on_exception=True,
            ):
                if ok:
                    continue
                (op, info), = result.items()
                if op == "create" and info.get("status") == 409:
                    continue  # INSERT OR IGNORE: the version or number is already there
                if info.get("status", 0) >= 500 or info.get("status") == 429:
                    raise StoreUnavailable(f"{self.url}: {info.get('error')}")
                failures.append({"id": info.get("_id"), "status": info.get("status"), "error": info.get("error")})
        return failures

    def _sources(self, kind: str, ids: list[str], fields: list[str] | None = None) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            with self._available():
                found = self.es.mget(index=self._alias(kind), ids=chunk, source_includes=fields)
            for doc in found["docs"]:
                if doc.get("found"):
                    out[doc["_id"]] = doc["_source"] | {"_seq_no": doc.get("_seq_no"),
                                                        "_primary_term": doc.get("_primary_term")}
        return out

    def ad_states(self, ids: Iterable[str]) -> dict[str, AdState]:
        found = self._sources("ads", list(dict.fromkeys(ids)), ["content_hash", "version", "first_seen_at"])
        return {i: AdState(d.get("content_hash"), int(d.get("version") or 1), d.get("first_seen_at"))
                for i, d in found.items()}

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        return set(self.ad_states(ids))

    def _document(self, ad: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        doc = {name: ad.get(name) for name in _AD_FIELDS}
        doc.update({k: v for k, v in _DEFAULTS.items() if doc[k] is None})
        if old is not None:
            doc["first_seen_at"] = _min(old.get("first_seen_at"), doc["first_seen_at"])
            if old.get("content_hash") != doc["content_hash"]:
                doc["version"] = max(int(doc["version"] or 1), int(old.get("version") or 1) + 1)
            else:
                doc["version"] = max(int(doc["version"] or 1), int(old.get("version") or 1))
        towns = [t for t in doc["towns"] or [] if t.get("name")]
        title_words = search_words(doc["title"] or "")
        doc.update({
            "seen_date": ad.get("posted_at") or doc["first_seen_at"],
            "title_words": title_words,
            "body_words": [title_words, search_words(doc["text"] or "")],
            "town_names": sorted({t["name"] for t in towns}),
            "counties": sorted({t["county"] for t in towns if t.get("county")}),
            "categories": sorted({h["category"] for h in doc["indicators"] or [] if h.get("category")}),
            "geo": {"lat": doc["lat"], "lon": doc["lon"]} if doc["lat"] is not None and doc["lon"] is not None
            else None,
        })
        return doc

    def write_ads(self, ads: Sequence[dict[str, Any]]) -> WriteOutcome:
        self._ensure_indices()
        ids = [ad["id"] for ad in ads]
        olds = self._sources("ads", list(dict.fromkeys(ids)),
                             ["content_hash", "version", "title", "text", "phones", "first_seen_at"])
        versions: list[dict[str, Any]] = []
        actions: list[dict[str, Any]] = []
        firsts: dict[str, _First] = {}  # e164 → its earliest sighting in this batch
        new = updated = 0
        written: dict[str, dict[str, Any]] = {}
        for ad in ads:
            old = written.get(ad["id"]) or olds.get(ad["id"])
            doc = self._document(ad, old)
            if old is None:
                new += 1
            else:
                updated += 1
                if old.get("content_hash") != doc["content_hash"]:
                    versions.append({"_op_type": "create", "_index": self._alias("versions"),
                                    "_id": f"{ad['id']}:{old.get('version') or 1}",
                                    "_source": {"ad_id": ad["id"], "version": int(old.get("version") or 1),
                                                "content_hash": old.get("content_hash"), "title": old.get("title"),
                                                "text": old.get("text"), "phones": old.get("phones") or [],
                                                "replaced_at": doc["last_seen_at"]}})
            written[ad["id"]] = doc
            actions.append({"_op_type": "index", "_index": self._alias("ads"), "_id": ad["id"], "_source": doc})
            seen = doc["last_seen_at"] or doc["first_seen_at"]
            for e164 in sorted(set(doc["phones"] or [])):
                # A number new to an existing ad was first seen now, not when the ad was.
                first = _min(doc["first_seen_at"] if old is None else seen, seen) or seen
                if e164 not in firsts or first < firsts[e164][0]:
                    firsts[e164] = (first, doc.get("town"), ad["id"], doc.get("county"))
        # Replaced versions first: if the ads then fail, a replay still finds the old content
        # stored and writes nothing twice (versions are created, never overwritten).
        failures = self._bulk(versions) + self._bulk(actions)
        if failures:
            raise DocumentError(f"{len(failures)} document(s) refused: {failures[:3]}")
        # The batch's fingerprint goes into the registry entries it creates: if the write fails
        # after some were created and the batch is replayed, those still count as new to it.
        fingerprint = "|".join(f"{ad['id']}:{ad.get('content_hash')}:{ad.get('last_seen_at')}" for ad in ads)
        created = self._sync_phones(firsts, hashlib.sha256(fingerprint.encode()).hexdigest()[:24])
        return WriteOutcome(new, updated, frozenset(created), {e164: (firsts[e164][2], firsts[e164][0])
                                                               for e164 in created if e164 in firsts})

    def _create_each(self, actions: list[dict[str, Any]], what: str, **options: Any) -> tuple[set[str], list[str]]:
        """Bulk ``create`` actions: (ids created, ids that already existed). A busy or failing
        node is StoreUnavailable (keep the data, retry); any other refusal is the data's fault."""
        created: set[str] = set()
        existing: list[str] = []
        with self._available():
            for ok, result in helpers.streaming_bulk(self.es, actions, chunk_size=self.bulk_chunk, max_retries=5,
                                                     initial_backoff=0.5, raise_on_error=False, **options):
                (_, info), = result.items()
                if ok:
                    created.add(info["_id"])
                elif info.get("status", 0) >= 500 or info.get("status") == 429:
                    raise StoreUnavailable(f"{self.url}: {what}: {info.get('error')}")
                elif info.get("status") == 409:
                    existing.append(info["_id"])
                else:
                    raise DocumentError(f"{what} refused {info.get('_id')}: {info.get('error')}")
        return created, existing

    def _create_phones(self, firsts: dict[str, _First], token: str) -> tuple[set[str], dict[str, Any]]:
        """Create the entries of numbers never seen before; returns those this call created.

        ``op_type=create`` decides "first seen" atomically: of two writers, one creates the
        entry and the other gets a 409 and merges into it instead."""
        known = self._sources("phones", list(firsts))  # most numbers are known: no 409 storm
        actions = [{"_op_type": "create", "_index": self._alias("phones"), "_id": e164,
                    "_source": {"e164": e164, "first_seen_at": first, "first_town": town, "first_ad": ad_id,
                                "first_county": county, "batch": token}}
                   for e164, (first, town, ad_id, county) in firsts.items() if e164 not in known]
        made, conflicts = self._create_each(actions, "phone registry")
        created = made | {e164 for e164, entry in known.items() if entry.get("batch") == token}  # ours, replayed
        if conflicts:  # a retried create that had in fact gone through is ours; another writer's is not
            created |= {e164 for e164, entry in self._sources("phones", conflicts).items()
                        if entry.get("batch") == token}
        return created, known

    def _phone_counts(self, phones: list[str]) -> dict[str, tuple[int, list[str], str | None]]:
        """Ads, towns and last sighting per number, from the ads index itself (always exact,
        and nothing to keep in step on every write)."""
        if not phones:
            return {}
        with self._available():
            self.es.indices.refresh(index=self._alias("ads"))
            found = self.es.search(
                index=self._alias("ads"), size=0, query={"terms": {"phones": phones}},
                aggs={"phones": {"terms": {"field": "phones", "include": phones, "size": len(phones)},
                                 "aggs": {"towns": {"terms": {"field": "town_names", "size": 1000,
                                                              "order": {"_key": "asc"}}},
                                          "last": {"max": {"field": "last_seen_at"}}}}},
            )
        counts = {b["key"]: (b["doc_count"], [t["key"] for t in b["towns"]["buckets"]],
                             b["last"].get("value_as_string"))
                  for b in found["aggregations"]["phones"]["buckets"]}
        return {e164: counts.get(e164, (0, [], None)) for e164 in phones}

    def _with_counts(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        counts = self._phone_counts([e["e164"] for e in entries])
        out = []
        for entry in entries:
            count, towns, last = counts[entry["e164"]]
            out.append({k: v for k, v in entry.items() if not k.startswith("_") and k != "batch"}
                       | {"ads_count": count, "towns": towns, "last_seen_at": _iso(last) or entry.get("first_seen_at")})
        return out

    def _sync_phones(self, firsts: dict[str, _First], token: str) -> set[str]:
        """First sightings only: a new number gets its entry (atomically, by create); a known
        one changes only when this batch saw it earlier than the entry says (a late replay)."""
        created, known = self._create_phones(firsts, token)
        # Known before this batch and seen earlier now, or created by another writer between
        # our read and our create (its 409): merge, under optimistic concurrency.
        earlier = [e164 for e164 in firsts if e164 not in created and (
            e164 not in known or firsts[e164][0] < (known[e164].get("first_seen_at") or "~"))]
        if earlier:
            self._update_phones(earlier, lambda e164, entry: _merged(entry, *firsts[e164]))
        return created

    def _update_phones(self, numbers: list[str], change: Any) -> None:
        """Read-modify-write registry entries with optimistic concurrency (``if_seq_no``),
        retrying the entries another writer changed in between."""
        pending = list(numbers)
        for _ in range(_CONFLICT_RETRIES):
            if not pending:
                return
            entries = self._sources("phones", pending)
            actions = []
            for e164 in pending:
                entry = entries.get(e164)
                if entry is None:
                    continue
                current = {k: v for k, v in entry.items() if not k.startswith("_")}
                updated = change(e164, current)
                if updated == current:
                    continue
                actions.append({"_op_type": "index", "_index": self._alias("phones"), "_id": e164,
                                "if_seq_no": entry["_seq_no"], "if_primary_term": entry["_primary_term"],
                                "_source": updated})
            conflicts = []
            with self._available():
                for ok, result in helpers.streaming_bulk(self.es, actions, chunk_size=self.bulk_chunk,
                                                         max_retries=5, initial_backoff=0.5, raise_on_error=False):
                    (_, info), = result.items()
                    if ok:
                        continue
                    if info.get("status") == 409:
                        conflicts.append(info["_id"])
                    elif info.get("status", 0) >= 500 or info.get("status") == 429:
                        raise StoreUnavailable(f"{self.url}: phone registry: {info.get('error')}")
                    else:
                        raise DocumentError(f"phone registry refused {info['_id']}: {info.get('error')}")
            pending = conflicts
        if pending:
            raise StoreUnavailable(f"{self.url}: phone registry kept changing under us: {pending[:5]}")

    def touch(self, sightings: Sequence[tuple[str, str]]) -> int:
        """Move ``last_seen_at`` forward; a number's last sighting is read from its ads."""
        if not sightings:
            return 0
        self._ensure_indices()
        latest: dict[str, str] = {}
        for ad_id, seen_at in sightings:
            latest[ad_id] = _max(latest.get(ad_id), seen_at) or seen_at
        ads = self._sources("ads", list(latest), ["last_seen_at"])
        actions = [{"_op_type": "update", "_index": self._alias("ads"), "_id": ad_id, "doc": {"last_seen_at": seen}}
                   for ad_id, seen in latest.items() if ad_id in ads and (ads[ad_id].get("last_seen_at") or "") < seen]
        failures = self._bulk(actions)
        if failures:
            raise DocumentError(f"{len(failures)} sighting(s) refused: {failures[:3]}")
        return sum(1 for ad_id, _ in sightings if ad_id in ads)

    def mark_missing(self, source: str, listed: Iterable[str], seen_at: str, after: int) -> int:
        self._ensure_indices()
        present = set(listed)
        actions, removed = [], 0
        with self._available():
            self.es.indices.refresh(index=self._alias("ads"))
            for hit in helpers.scan(self.es, index=self._alias("ads"), size=1000,
                                    query={"query": {"term": {"source": source}},
                                           "_source": ["removed_at", "missing_count"]}):
                doc, ad_id = hit["_source"], hit["_id"]
                missing, gone = int(doc.get("missing_count") or 0), doc.get("removed_at")
                if ad_id in present:
                    if missing or gone:
                        actions.append({"_op_type": "update", "_index": self._alias("ads"), "_id": ad_id,
                                        "doc": {"missing_count": 0, "removed_at": None}})
                elif not gone:
                    change: dict[str, Any] = {"missing_count": missing + 1}
                    if missing + 1 >= max(1, after):
                        change["removed_at"] = seen_at
                        removed += 1
                    actions.append({"_op_type": "update", "_index": self._alias("ads"), "_id": ad_id, "doc": change})
        failures = self._bulk(actions)
        if failures:
            raise DocumentError(f"{len(failures)} removal marks refused: {failures[:3]}")
        return removed

    # --- reads ------------------------------------------------------------------
    @staticmethod
    def _ad(source: dict[str, Any]) -> dict[str, Any]:
        ad = {name: source.get(name) for name in _AD_FIELDS}
        for name in ("towns", "phones", "phone_details", "contacts", "indicators", "images"):
            ad[name] = ad[name] or []
        return ad

    def get_ad(self, ad_id: str) -> dict[str, Any] | None:
        try:
            with self._available():
                found = self.es.get(index=self._alias("ads"), id=ad_id)
        except NotFoundError:
            return None
        return self._ad(found["_source"])

    def ad_versions(self, ad_id: str) -> list[dict[str, Any]]:
        # Replaced versions are numbered 1 … version-1: fetched by id, so they show at once.
        ad = self._sources("ads", [ad_id], ["version"]).get(ad_id)
        if ad is None:
            return []
        wanted = [f"{ad_id}:{n}" for n in range(1, int(ad.get("version") or 1))]
        found = self._sources("versions", wanted)
        return [{k: v for k, v in found[i].items() if not k.startswith("_")} for i in wanted if i in found]

    def search(self, query: SearchQuery) -> SearchResult:
        size = max(0, query.limit)
        offset = max(0, query.offset)
        body: dict[str, Any] = {"query": to_dsl(query, self.analyzer), "sort": sort_clause(query),
                                "track_total_hits": True}
        if query.facets:
            body["aggs"] = facet_aggs()
        if offset + size > _MAX_RESULTS:
            raise ValueError(f"--offset + --limit may not pass {_MAX_RESULTS} with Elasticsearch")
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

    def phone_record(self, e164: str) -> dict[str, Any] | None:
        try:
            with self._available():
                found = self.es.get(index=self._alias("phones"), id=e164)
        except NotFoundError:
            return None
        return self._with_counts([found["_source"]])[0]

    def phone_ads(self, e164: str) -> list[dict[str, Any]]:
        with self._available():
            found = self.es.search(index=self._alias("ads"), query={"term": {"phones": e164}},
                                   sort=[{"seen_date": "asc"}, {"id": "asc"}], size=_MAX_RESULTS)
        return [self._ad(hit["_source"]) for hit in found["hits"]["hits"]]

    def scan_ads(self) -> Iterator[dict[str, Any]]:
        """Every ad, as written (for ``index reindex`` and exports)."""
        with self._available():
            for hit in helpers.scan(self.es, index=self._alias("ads"), query={"query": {"match_all": {}}},
                                    size=1000, preserve_order=False):
                yield self._ad(hit["_source"])

    def phones_first_seen(self, since: str) -> list[dict[str, Any]]:
        with self._available():
            self.es.indices.refresh(index=self._alias("phones"))
            entries = [hit["_source"] for hit in helpers.scan(
                self.es, index=self._alias("phones"), query={"query": {"range": {"first_seen_at": {"gte": since}}}},
                size=1000)]
        entries.sort(key=lambda e: (e.get("first_seen_at") or "", e["e164"]))
        return self._with_counts(entries) if entries else []

    def phones_seen(self, since: str) -> list[str]:
        numbers: list[str] = []
        after: dict[str, Any] | None = None
        with self._available():
            self.es.indices.refresh(index=self._alias("ads"))
            while True:  # composite paging: any number of numbers
                composite: dict[str, Any] = {"size": 5000, "sources": [{"e164": {"terms": {"field": "phones"}}}]}
                if after:
                    composite["after"] = after
                found = self.es.search(index=self._alias("ads"), size=0,
                                       query={"range": {"last_seen_at": {"gte": since}}},
                                       aggs={"numbers": {"composite": composite}})
                agg = found["aggregations"]["numbers"]
                numbers += [b["key"]["e164"] for b in agg["buckets"]]
                after = agg.get("after_key")
                if not agg["buckets"] or not after:
                    return numbers

    # --- alerts -----------------------------------------------------------------
    # Alert writes refresh at once: there are few, and "alerts list" right after a crawl
    # or "ack" must show them (waiting for the next refresh would cost a second each).
    @staticmethod
    def _alert_doc(alert: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {name: alert.get(name) for name in ALERT_FIELDS}
        doc["deliveries"] = doc["deliveries"] or {}
        doc["details"] = doc["details"] or {}
        doc["waiting"] = waiting_channels(doc["deliveries"])
        return doc

    def add_alerts(self, alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``op_type=create`` on the id (derived from the key): a second raise is a 409, not a copy."""
        if not alerts:
            return []
        self._ensure_indices()
        actions = [{"_op_type": "create", "_index": self._alias("alerts"), "_id": alert["id"],
                    "_source": self._alert_doc(alert)} for alert in alerts]
        created, _ = self._create_each(actions, "alerts", refresh=True)
        return [dict(alert) for alert in alerts if alert["id"] in created]

    @staticmethod
    def _alert(source: dict[str, Any]) -> dict[str, Any]:
        return {name: source.get(name) for name in ALERT_FIELDS} | {
            "created_at": _iso(source.get("created_at")), "acked_at": _iso(source.get("acked_at"))}

    def _find_alerts(self, query: dict[str, Any], order: str, limit: int,
                     after: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        self._ensure_indices()
        extra: dict[str, Any] = {"search_after": list(after)} if after else {}
        try:
            with self._available():
                self.es.indices.refresh(index=self._alias("alerts"))
                found = self.es.search(index=self._alias("alerts"), query=query, size=min(limit, _MAX_RESULTS),
                                       sort=[{"created_at": order}, {"id": "asc"}], **extra)
        except NotFoundError:  # an index made before alerts existed, opened read-only: no alerts yet
            return []
        return [self._alert(hit["_source"]) for hit in found["hits"]["hits"]]

    def alerts(self, since: str | None = None, rule: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = []
        if since:
            filters.append({"range": {"created_at": {"gte": since}}})
        if rule:
            filters.append({"term": {"rule": rule}})
        return self._find_alerts({"bool": {"filter": filters}}, "desc", limit)

    def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        self._ensure_indices()
        try:
            with self._available():
                found = self.es.get(index=self._alias("alerts"), id=alert_id)
        except NotFoundError:
            return None
        return self._alert(found["_source"])

    def _change_alert(self, alert_id: str, change: Any) -> bool:
        """Read-modify-write one alert under optimistic concurrency (``if_seq_no``)."""
        self._ensure_indices()
        for _ in range(_CONFLICT_RETRIES):
            try:
                with self._available():
                    found = self.es.get(index=self._alias("alerts"), id=alert_id)
            except NotFoundError:
                return False
            doc = self._alert_doc(change(dict(found["_source"])))
            try:
                with self._available():
                    self.es.index(index=self._alias("alerts"), id=alert_id, document=doc, refresh=True,
                                  if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"])
                return True
            except ApiError as exc:
                if exc.meta.status != 409:
                    raise
        raise StoreUnavailable(f"{self.url}: alert {alert_id} kept changing under us")

    def ack_alert(self, alert_id: str, by: str, at: str) -> bool:
        return self._change_alert(alert_id, lambda doc: doc | {"acked_at": at, "acked_by": by})

    def set_delivery(self, alert_id: str, channel: str, delivery: dict[str, Any]) -> None:
        if not self._change_alert(alert_id, lambda doc: doc | {
                "deliveries": (doc.get("deliveries") or {}) | {channel: delivery}}):
            raise KeyError(f"no alert {alert_id}")

    def undelivered_alerts(self, limit: int = 1000, after: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        return self._find_alerts({"exists": {"field": "waiting"}}, "asc", limit, after)

    # --- crawl runs -------------------------------------------------------------
    # Run rows refresh at once (two writes per crawl): "adwatch runs" and the next crawl's
    # "did the last one end ok" read them right away.
    def start_run(self, source: str, started_at: str) -> int:
        self._ensure_indices()
        with self._available():
            for _ in range(_CONFLICT_RETRIES):
                found = self.es.search(index=self._alias("runs"), size=0, aggs={"top": {"max": {"field": "id"}}})
                run_id = int(found["aggregations"]["top"]["value"] or 0) + 1
                try:  # create: two crawls starting at once cannot take the same id
                    self.es.create(index=self._alias("runs"), id=str(run_id), refresh=True,
                                   document={"id": run_id, "source": source, "started_at": started_at,
                                             "status": "running", "pages": 0, "new_ads": 0, "updated_ads": 0,
                                             "removed_ads": 0, "errors": 0, "reason": None, "stats": {}})
                    return run_id
                except ApiError as exc:
                    if exc.meta.status != 409:
                        raise
        raise StoreUnavailable(f"{self.url}: could not allocate a crawl run id")

    def finish_run(self, run_id: int, **fields: Any) -> None:
        allowed = {"finished_at", "status", "pages", "new_ads", "updated_ads", "removed_ads", "errors", "reason",
                   "stats"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown crawl run fields: {sorted(unknown)}")
        with self._available():
            self.es.update(index=self._alias("runs"), id=str(run_id), doc=fields, refresh=True)

    def first_finished_run(self, source: str) -> str | None:
        self._ensure_indices()
        with self._available():
            found = self.es.search(index=self._alias("runs"), size=1, sort=[{"finished_at": "asc"}],
                                   query={"bool": {"filter": [{"term": {"source": source}},
                                                              {"terms": {"status": ["ok", "partial"]}},
                                                              {"exists": {"field": "finished_at"}}]}})
        hits = found["hits"]["hits"]
        return _iso(hits[0]["_source"]["finished_at"]) if hits else None

    def runs(self, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = {"term": {"source": source}} if source else {"match_all": {}}
        with self._available():
            found = self.es.search(index=self._alias("runs"), query=query, sort=[{"id": "desc"}],
                                   size=min(limit, _MAX_RESULTS))
        return [hit["_source"] | {"stats": hit["_source"].get("stats") or {}} for hit in found["hits"]["hits"]]

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

def _merged(entry: dict[str, Any], first: str, town: str | None, ad_id: str, county: str | None) -> dict[str, Any]:
    """A registry entry after an earlier sighting turned up."""
    updated = dict(entry)
    if first < (entry.get("first_seen_at") or first + "~"):
        updated.update({"first_seen_at": first, "first_town": town, "first_ad": ad_id, "first_county": county})
    return updated


def _iso(value: str | None) -> str | None:
    """Elasticsearch's "2026-11-01T10:00:00.000Z" → adwatch's "2026-11-01T10:00:00Z"."""
    if value and value.endswith(".000Z"):
        return value[:-5] + "Z"
    return value


class _Guard:
    """Turns "the node is not there" into StoreUnavailable; other errors pass through."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, StoreUnavailable):
            return False
        if isinstance(exc, TransportConnectionError | ConnectionTimeout):
            raise StoreUnavailable(f"{self.url}: unreachable ({type(exc).__name__})") from exc
        if isinstance(exc, ApiError) and (exc.meta.status >= 500 or exc.meta.status == 429):
            raise StoreUnavailable(f"{self.url}: {exc.meta.status} {exc.message}") from exc
        if isinstance(exc, helpers.BulkIndexError | TransportError) and not isinstance(exc, ApiError):
            raise StoreUnavailable(f"{self.url}: {exc}") from exc
        return False

