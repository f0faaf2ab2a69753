"""Store: batched writes of ads and sightings to the configured store.

A batch the store refuses (locked past the timeout, disk full, unreachable) is put in
the spool (``ADWATCH_HOME/spool``) and replayed, in order, before the next batch and
at the start of the next crawl: nothing is lost and the crawl goes on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from index import Store, store_for_crawler
from index.spool import Batch, Spool
from spiders.items import AdSighting

logger = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, store: Store, stats: StatsCollector, spool: Spool, batch_size: int = 50) -> None:
        self.store = store
        self.stats = stats
        self.spool = spool
        self.batch_size = max(1, batch_size)
        self.ads: Batch = []
        self.sightings: Batch = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        assert crawler.stats is not None
        spool = Spool(Path(crawler.settings.get("ADWATCH_HOME")) / "spool")
        return cls(store_for_crawler(crawler), crawler.stats, spool,
                   crawler.settings.getint("ADWATCH_STORE_BATCH_SIZE"))

    def open_spider(self) -> None:
        self._replay()

    def close_spider(self) -> None:
        self.flush()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, AdSighting):
            self.sightings.extend({"id": ad_id, "seen_at": item.seen_at} for ad_id in item.ids)
        else:
            # A shallow copy: ItemAdapter.asdict() deep-copies every list and cost more than the write.
            self.ads.append(dict(ItemAdapter(item).items()))
        if len(self.ads) + len(self.sightings) >= self.batch_size:
            self.flush()
        return item

    def _apply(self, kind: str, batch: Batch) -> None:
        if kind == "ads":
            outcome = self.store.write_ads(batch)
            self.stats.inc_value("adwatch/store/new", outcome.new)
            self.stats.inc_value("adwatch/store/updated", outcome.updated)
        else:
            self.stats.inc_value("adwatch/store/touched", self.store.touch([(s["id"], s["seen_at"]) for s in batch]))

    def _replay(self) -> bool:
        try:
            replayed = self.spool.replay(self._apply)
        except Exception as exc:
            logger.error("store: spooled batches still not accepted (%s); they stay in %s", exc, self.spool.folder)
            return False
        if replayed:
            self.stats.inc_value("adwatch/store/replayed_batches", replayed)
            logger.info("store: replayed %d spooled batches", replayed)
        return True

    def flush(self) -> None:
        pending = [("ads", self.ads), ("sightings", self.sightings)]
        self.ads, self.sightings = [], []
        healthy = self._replay()
        for kind, batch in pending:
            if not batch:
                continue
            if healthy:
                try:
                    self._apply(kind, batch)
                    self.stats.inc_value("adwatch/store/batches")
                    continue
                except Exception as exc:
                    healthy = False
                    logger.error("store: write failed (%s); batch of %d %s spooled for retry", exc, len(batch), kind)
            self.spool.append(kind, batch)
            self.stats.inc_value("adwatch/store/spooled_batches")
