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
from index.store import AdState, StoreUnavailable
from spiders.items import AdSighting

_HASHED = ("title", "text", "phone_field", "location", "price", "age", "poster")


def content_hash(ad: ItemAdapter) -> str:
    digest = hashlib.sha256()
    for name in _HASHED:
        digest.update(f"{name}\x1f{ad.get(name) or ''}\x1e".encode())
    return digest.hexdigest()


class DedupePipeline:
    def __init__(self, store: Store, stats: StatsCollector) -> None:
        self.store = store
        self.stats = stats
        # Ads already handled in this crawl but perhaps not yet flushed to the store.
        self.this_run: dict[str, AdState] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupePipeline:
        assert crawler.stats is not None
        return cls(store_for_crawler(crawler), crawler.stats)

    def _stored_state(self, ad_id: str) -> AdState | None:
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
        if previous is None:
            ad["first_seen_at"] = seen_at
            ad["version"] = 1
            self.stats.inc_value("adwatch/dedupe/new")
        elif previous.content_hash == digest:
            self.stats.inc_value("adwatch/dedupe/unchanged")
            return AdSighting(ids=[ad["id"]], source=ad["source"], seen_at=seen_at)
        else:
            ad["first_seen_at"] = previous.first_seen_at or seen_at
            ad["version"] = previous.version + 1
            self.stats.inc_value("adwatch/dedupe/changed")
        self.this_run[ad["id"]] = AdState(digest, ad["version"], ad["first_seen_at"])
        return item
