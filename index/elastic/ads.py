"""The Elasticsearch store's ads part: write (with versions and the phone registry), touch, removals, read."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from elasticsearch import helpers

from index import rules
from index.elastic.base import ElasticBase, refused
from index.elastic.phones import register_sightings
from index.es_schema import search_words
from index.store import STORED_AD_FIELDS, AdState, WriteOutcome

_DEFAULTS: dict[str, Any] = {"title": "", "text": "", "indicator_score": 0.0, "version": 1, "images": [],
                             "phones": [], "phone_details": [], "contacts": [], "towns": [], "indicators": []}
_OLD_FIELDS = ["content_hash", "version", "title", "text", "phones", "first_seen_at", "evidence"]


def _state(doc: dict[str, Any]) -> AdState:
    return AdState(doc.get("content_hash"), int(doc.get("version") or 1), doc.get("first_seen_at"))


def _presence(doc: dict[str, Any]) -> rules.Presence:
    return rules.Presence(int(doc.get("missing_count") or 0), doc.get("removed_at"))


class ElasticAds(ElasticBase):
    def ad_states(self, ids: Iterable[str]) -> dict[str, AdState]:
        found = self._sources("ads", list(dict.fromkeys(ids)), ["content_hash", "version", "first_seen_at"])
        return {i: _state(d) for i, d in found.items()}

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        return set(self.ad_states(ids))

    # --- writes -----------------------------------------------------------------
    def _document(self, ad: dict[str, Any], old: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
        """The ad as indexed (with its search fields), and whether it replaces stored content."""
        doc = {name: ad.get(name) for name in STORED_AD_FIELDS}
        doc.update({k: v for k, v in _DEFAULTS.items() if doc[k] is None})
        replaced = False
        if old is not None:
            doc["version"], doc["first_seen_at"], replaced = rules.merge_version(
                _state(old), doc["content_hash"], doc["version"], doc["first_seen_at"])
        towns = [t for t in doc["towns"] or [] if t.get("name")]
        title_words = search_words(doc["title"] or "")
        doc.update({
            "seen_date": rules.seen_date(ad.get("posted_at"), doc["first_seen_at"]),
            "title_words": title_words,
            "body_words": [title_words, search_words(doc["text"] or "")],
            "town_names": sorted({t["name"] for t in towns}),
            "counties": sorted({t["county"] for t in towns if t.get("county")}),
            "categories": sorted({h["category"] for h in doc["indicators"] or [] if h.get("category")}),
            "geo": {"lat": doc["lat"], "lon": doc["lon"]} if doc["lat"] is not None and doc["lon"] is not None
            else None,
        })
        return doc, replaced

    def write_ads(self, ads: Sequence[dict[str, Any]]) -> WriteOutcome:
        self._ensure_indices()
        olds = self._sources("ads", list(dict.fromkeys(ad["id"] for ad in ads)), _OLD_FIELDS)
        versions: list[dict[str, Any]] = []
        actions: list[dict[str, Any]] = []
        sightings: list[tuple[str, rules.Sighting]] = []
        new = updated = 0
        written: dict[str, dict[str, Any]] = {}
        for ad in ads:
            old = written.get(ad["id"]) or olds.get(ad["id"])
            doc, replaced = self._document(ad, old)
            new += old is None
            updated += old is not None
            if old is not None and replaced:
                versions.append(self._version(ad["id"], old, doc["last_seen_at"]))
            written[ad["id"]] = doc
            actions.append({"_op_type": "index", "_index": self._alias("ads"), "_id": ad["id"], "_source": doc})
            sightings += rules.ad_sightings(doc, old is None)
        # Replaced versions first: if the ads then fail, a replay still finds the old content
        # stored and writes nothing twice (versions are created, never overwritten).
        refused(self._failures(versions, "version(s)") + self._failures(actions, "document(s)"), "document(s)")
        # The batch's fingerprint goes into the registry entries it creates: if the write fails
        # after some were created and the batch is replayed, those still count as new to it.
        fingerprint = "|".join(f"{ad['id']}:{ad.get('content_hash')}:{ad.get('last_seen_at')}" for ad in ads)
        created = register_sightings(self, sightings, hashlib.sha256(fingerprint.encode()).hexdigest()[:24])
        return WriteOutcome(new, updated, frozenset(created),
                            {e164: (s.ad, s.first_seen_at) for e164, s in created.items()})

    def _version(self, ad_id: str, old: dict[str, Any], replaced_at: str | None) -> dict[str, Any]:
        """The stored content an edit replaces, kept as its version (created once, by id)."""
        number = int(old.get("version") or 1)
        return {"_op_type": "create", "_index": self._alias("versions"), "_id": f"{ad_id}:{number}",
                "_source": {"ad_id": ad_id, "version": number, "content_hash": old.get("content_hash"),
                            "title": old.get("title"), "text": old.get("text"), "phones": old.get("phones") or [],
                            "replaced_at": replaced_at, "evidence": old.get("evidence")}}

    def touch(self, sightings: Sequence[tuple[str, str]]) -> int:
        """Move ``last_seen_at`` forward; a number's last sighting is read from its ads."""
        if not sightings:
            return 0
        self._ensure_indices()
        latest_seen = rules.latest_sightings(sightings)
        ads = self._sources("ads", list(latest_seen), ["last_seen_at"])
        moved = rules.moved_forward({ad_id: doc.get("last_seen_at") for ad_id, doc in ads.items()}, latest_seen)
        self._bulk(({"_op_type": "update", "_index": self._alias("ads"), "_id": ad_id, "doc": {"last_seen_at": seen}}
                    for ad_id, seen in moved.items()), "sighting(s)")
        return sum(1 for ad_id, _ in sightings if ad_id in ads)

    def mark_missing(self, source: str, listed: Iterable[str], seen_at: str, after: int) -> int:
        self._ensure_indices()
        with self._available():
            self.es.indices.refresh(index=self._alias("ads"))
            hits = helpers.scan(self.es, index=self._alias("ads"), size=1000,
                                query={"query": {"term": {"source": source}},
                                       "_source": ["removed_at", "missing_count"]})
            changes, removed = rules.presence_changes(
                ((hit["_id"], _presence(hit["_source"])) for hit in hits), set(listed), seen_at, after)
        self._bulk(({"_op_type": "update", "_index": self._alias("ads"), "_id": ad_id, "doc": presence._asdict()}
                    for ad_id, presence in changes.items()), "removal mark(s)")
        return removed

    # --- reads ------------------------------------------------------------------
    def get_ad(self, ad_id: str) -> dict[str, Any] | None:
        found = self._get("ads", ad_id)
        return self._ad(found) if found is not None else None

    def ad_versions(self, ad_id: str) -> list[dict[str, Any]]:
        # Replaced versions are numbered 1 … version-1: fetched by id, so they show at once.
        ad = self._sources("ads", [ad_id], ["version"]).get(ad_id)
        if ad is None:
            return []
        wanted = [f"{ad_id}:{n}" for n in range(1, int(ad.get("version") or 1))]
        found = self._sources("versions", wanted)
        return [{k: v for k, v in found[i].items() if not k.startswith("_")} for i in wanted if i in found]

    def scan_ads(self) -> Iterator[dict[str, Any]]:
        """Every ad, as written (for ``index reindex`` and exports)."""
        with self._available():
            for hit in helpers.scan(self.es, index=self._alias("ads"), query={"query": {"match_all": {}}},
                                    size=1000, preserve_order=False):
                yield self._ad(hit["_source"])
