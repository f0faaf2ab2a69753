"""Dedupe: the same ad again only moves ``last_seen_at``; changed content becomes a new version.

The content hash covers what an analyst reads (title, text, phone field, location,
price, age), so a re-rendered page with new boilerplate is not a new version.
"""

from __future__ import annotations

import hashlib
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from adwatch.core.clock import now_iso
from index import Store, store_for_crawler
from index.rules import version_step
from index.store import AdState, StoreUnavailable
from spiders.adstates import AdStates, ad_states_for_crawler
from spiders.items import AdSighting

_HASHED = ("title", "text", "phone_field", "location", "price", "age", "poster")


def content_hash(ad: ItemAdapter) -> str:
    digest = hashlib.sha256()
    for name in _HASHED:
        digest.update(f"{name}\x1f{ad.get(name) or ''}\x1e".encode())
    return digest.hexdigest()


class DedupePipeline:
    def __init__(self, store: Store, stats: StatsCollector, states: AdStates | None = None) -> None:
        self.store = store
        self.stats = stats
        # The states the incremental middleware fetched with each listing page: an ad it
        # covered costs no store query here.
        self.states = states
        # Ads already handled in this crawl but perhaps not yet flushed to the store.
        self.this_run: dict[str, AdState] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupePipeline:
        assert crawler.stats is not None
        store = store_for_crawler(crawler)
        return cls(store, crawler.stats, ad_states_for_crawler(crawler, store))

    def _stored_state(self, ad_id: str) -> AdState | None:
        if self.states is not None:
            covered, state = self.states.take(ad_id)
            if covered:
                return state
        try:
            return self.store.ad_states([ad_id]).get(ad_id)
        except StoreUnavailable:
            # Passed on as new: the store merges it with what it holds (earliest first
            # sighting, a new version only for new content) when it takes the batch.
            self.stats.inc_value("adwatch/dedupe/store_unavailable")
            return None

    def process_item(self, item: Any) -> Any:
        if isinstance(item, AdSighting):
            return item
        ad = ItemAdapter(item)
        digest = content_hash(ad)
        seen_at: str = ad.get("fetched_at") or now_iso()
        previous = self.this_run.get(ad["id"]) or self._stored_state(ad["id"])
        ad["content_hash"] = digest
        ad["last_seen_at"] = seen_at
        step = version_step(previous, digest, seen_at)  # index/rules.py: the stores keep the same rule
        self.stats.inc_value(f"adwatch/dedupe/{step.outcome}")
        if step.outcome == "unchanged":
            return AdSighting(ids=[ad["id"]], source=ad["source"], seen_at=seen_at)
        ad["first_seen_at"], ad["version"] = step.first_seen_at, step.version
        self.this_run[ad["id"]] = AdState(digest, ad["version"], ad["first_seen_at"])
        return item
