"""Store: ads and sightings gathered into batches and handed to the writer.

Durable writing (the spool when the store cannot take a batch, replay in order, rejected
records) is the writer's job (``index/writer.py``); this stage batches, copies the writer's
counts into the crawl's stats as ``adwatch/store/<event>``, and sends
``pipelines.signals.ads_written`` after each batch of ads the store took (the alert rules
listen: ``alerts/extension.py``).
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.signalmanager import SignalManager
from scrapy.statscollectors import StatsCollector

from index.spool import Batch
from index.writer import NewPhones, StoreWriter, writer_for_crawler
from pipelines.signals import ads_written
from spiders.items import AdSighting


class StorePipeline:
    def __init__(self, writer: StoreWriter, stats: StatsCollector, batch_size: int = 50,
                 signals: SignalManager | None = None) -> None:
        self.writer = writer
        self.stats = stats
        self.signals = signals
        self.batch_size = max(1, batch_size)
        self.ads: Batch = []
        self.sightings: Batch = []
        if signals is not None:
            writer.ads_listeners.append(self._announce)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        assert crawler.stats is not None
        return cls(writer_for_crawler(crawler), crawler.stats, crawler.settings.getint("ADWATCH_STORE_BATCH_SIZE"),
                   crawler.signals)

    def open_spider(self) -> None:
        self.writer.replay()
        self._publish()

    def close_spider(self) -> None:
        self.flush()

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        if isinstance(item, AdSighting):
            self.sightings.extend({"id": ad_id, "seen_at": adapter["seen_at"]} for ad_id in adapter["ids"])
        else:
            # A shallow copy: ItemAdapter.asdict() deep-copies every list and cost more than the write.
            self.ads.append(dict(adapter.items()))
        if len(self.ads) + len(self.sightings) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        pending = [("ads", self.ads), ("sightings", self.sightings)]
        self.ads, self.sightings = [], []
        self.writer.flush(pending)
        self._publish()

    def _announce(self, ads: Batch, new_phones: NewPhones) -> None:
        assert self.signals is not None
        # send_catch_log: a failing handler is logged by Scrapy and never fails the write.
        self.signals.send_catch_log(ads_written, ads=ads, new_phones=new_phones)

    def _publish(self) -> None:
        for event, count in self.writer.take_counts().items():
            self.stats.inc_value(f"adwatch/store/{event}", count)
