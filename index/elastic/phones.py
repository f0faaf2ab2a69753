"""The Elasticsearch store's phone registry: first sightings (written with each batch of ads) and reads.

No scripts (a minimal node has no painless): "first seen" of a number is decided by
``op_type=create`` (a 409 means the number is known); later changes to a registry entry
are read-modify-write with optimistic concurrency (``if_seq_no``), retried on conflict, so
two writers never lose each other's updates. Ads, towns and the last sighting of a number
are read from the ads index itself (always exact, nothing to keep in step on every write).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from elasticsearch import helpers

from index.elastic.base import CONFLICT_RETRIES, MAX_RESULTS, DocumentError, ElasticBase, es_iso
from index.rules import Sighting, earliest_sightings, first_sighting, is_earlier
from index.store import StoreUnavailable

_SIGHTING_FIELDS = ("first_seen_at", "first_town", "first_ad", "first_county")


def _sighting(entry: dict[str, Any]) -> Sighting:
    return Sighting(entry.get("first_seen_at") or "", entry.get("first_town"), entry.get("first_ad") or "",
                    entry.get("first_county"))


def _merged(entry: dict[str, Any], candidate: Sighting) -> dict[str, Any]:
    """A registry entry once ``candidate`` is known too (``index.rules.first_sighting``)."""
    if first_sighting(_sighting(entry), candidate) is candidate:
        return entry | dict(zip(_SIGHTING_FIELDS, candidate, strict=True))
    return entry


def register_sightings(store: ElasticBase, rows: list[tuple[str, Sighting]], token: str) -> dict[str, Sighting]:
    """Enter a batch's (number, sighting) rows in the registry: a new number gets its entry
    (atomically, by create); a known one changes only when this batch saw it earlier than the
    entry says (a late replay). Returns the numbers this batch entered, with their first sighting."""
    firsts = earliest_sightings(rows)
    created, known = _create_entries(store, firsts, token)
    # Known before this batch and seen earlier now, or created by another writer between
    # our read and our create (its 409): merge, under optimistic concurrency.
    earlier = [e164 for e164 in firsts if e164 not in created and (
        e164 not in known or is_earlier(firsts[e164], _sighting(known[e164])))]
    if earlier:
        _update_entries(store, earlier, lambda e164, entry: _merged(entry, firsts[e164]))
    return {e164: firsts[e164] for e164 in created}


def _create_entries(store: ElasticBase, firsts: dict[str, Sighting], token: str) -> tuple[set[str], dict[str, Any]]:
    """Create the entries of numbers never seen before; returns those this call created.

    ``op_type=create`` decides "first seen" atomically: of two writers, one creates the
    entry and the other gets a 409 and merges into it instead. The batch's ``token`` in an
    entry makes a replayed batch recognise the entries it made before it failed."""
    known = store._sources("phones", list(firsts))  # most numbers are known: no 409 storm
    actions = [{"_op_type": "create", "_index": store._alias("phones"), "_id": e164,
                "_source": {"e164": e164, **dict(zip(_SIGHTING_FIELDS, sighting, strict=True)), "batch": token}}
               for e164, sighting in firsts.items() if e164 not in known]
    made, conflicts = store._create_each(actions, "phone registry")
    created = made | {e164 for e164, entry in known.items() if entry.get("batch") == token}  # ours, replayed
    if conflicts:  # a retried create that had in fact gone through is ours; another writer's is not
        created |= {e164 for e164, entry in store._sources("phones", conflicts).items()
                    if entry.get("batch") == token}
    return created, known


def _update_entries(store: ElasticBase, numbers: list[str],
                    change: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
    """Read-modify-write registry entries with optimistic concurrency (``if_seq_no``),
    retrying the entries another writer changed in between."""
    pending = list(numbers)
    for _ in range(CONFLICT_RETRIES):
        if not pending:
            return
        entries = store._sources("phones", pending)
        actions = []
        for e164 in pending:
            entry = entries.get(e164)
            if entry is None:
                continue
            current = {k: v for k, v in entry.items() if not k.startswith("_")}
            updated = change(e164, current)
            if updated == current:
                continue
            actions.append({"_op_type": "index", "_index": store._alias("phones"), "_id": e164,
                            "if_seq_no": entry["_seq_no"], "if_primary_term": entry["_primary_term"],
                            "_source": updated})
        pending = []
        for ok, _, info in store._send(actions, "phone registry"):
            if ok:
                continue
            if info.get("status") != 409:
                raise DocumentError(f"phone registry refused {info['_id']}: {info.get('error')}")
            pending.append(info["_id"])
    if pending:
        raise StoreUnavailable(f"{store.url}: phone registry kept changing under us: {pending[:5]}")


class ElasticPhoneRegistry(ElasticBase):
    def _phone_counts(self, phones: list[str]) -> dict[str, tuple[int, list[str], str | None]]:
        """Ads, towns and last sighting per number, from the ads index."""
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
                       | {"ads_count": count, "towns": towns,
                          # The ads' last sighting; once they are purged, the one the purge kept here.
                          "last_seen_at": max(filter(None, (es_iso(last), entry.get("last_seen_at"))),
                                              default=entry.get("first_seen_at"))})
        return out

    def phone_record(self, e164: str) -> dict[str, Any] | None:
        found = self._get("phones", e164)
        return self._with_counts([found])[0] if found is not None else None

    def phone_ads(self, e164: str) -> list[dict[str, Any]]:
        with self._available():
            found = self.es.search(index=self._alias("ads"), query={"term": {"phones": e164}},
                                   sort=[{"seen_date": "asc"}, {"id": "asc"}], size=MAX_RESULTS)
        return [self._ad(hit["_source"]) for hit in found["hits"]["hits"]]

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
