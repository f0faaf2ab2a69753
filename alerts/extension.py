"""The alert rules in a crawl: a Scrapy extension on ``pipelines.signals.ads_written``.

The store pipeline only writes; this extension runs the rules on each batch of ads it wrote
(``alerts/realtime.py`` says what happens when the store cannot take the alerts), evaluates
the checks spooled earlier when the writer replays them, and at the end of the crawl retries
deliveries that failed before. Off (``NotConfigured``) when ``ADWATCH_ALERTS`` is empty, or
the file is missing or enables no rule.
"""

from __future__ import annotations

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.signalmanager import SignalManager
from scrapy.statscollectors import StatsCollector

from adwatch.crawl_lock import refused
from alerts.engine import AlertEngine
from alerts.realtime import RealTimeAlerts
from index.spool import Batch
from index.writer import NewPhones, StoreWriter, writer_for_crawler
from pipelines.signals import ads_written


class AlertsExtension:
    def __init__(self, engine: AlertEngine, writer: StoreWriter, stats: StatsCollector) -> None:
        self.alerts = RealTimeAlerts(engine, writer)
        self.stats = stats
        # The writer replays spooled checks itself (pipeline start, before each batch): they
        # must reach the rules and may raise StoreUnavailable, so no signal in between.
        writer.check_alerts = self.replayed_check

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AlertsExtension:
        if not crawler.settings.get("ADWATCH_ALERTS"):
            raise NotConfigured("alerts are off (ADWATCH_ALERTS is empty)")
        assert crawler.stats is not None
        writer = writer_for_crawler(crawler)
        engine = AlertEngine.from_settings(crawler.settings, writer.store)
        if engine is None:
            raise NotConfigured(f"{crawler.settings.get('ADWATCH_ALERTS')}: no alerts file or no enabled rule")
        extension = cls(engine, writer, crawler.stats)
        extension.connect(crawler.signals)
        return extension

    def connect(self, manager: SignalManager) -> None:
        manager.connect(self.ads_written, signal=ads_written)
        # spider_closed comes after the item pipelines closed (their last batch is written);
        # EXTENSIONS orders this before the crawl-run recorder, which saves the stats.
        manager.connect(self.spider_closed, signal=signals.spider_closed)

    def ads_written(self, ads: Batch, new_phones: NewPhones) -> None:
        self.alerts.after_write(ads, new_phones)
        self._publish()

    def replayed_check(self, ads: Batch, new_phones: NewPhones) -> None:
        try:
            self.alerts.check(ads, new_phones)
        finally:
            self._publish()

    def spider_closed(self) -> None:
        if refused(self.stats):  # another crawl of this source is running and retries them itself
            return
        self.alerts.retry_deliveries()
        self._publish()

    def _publish(self) -> None:
        for event, count in self.alerts.take_counts().items():
            self.stats.inc_value(f"adwatch/alerts/{event}", count)
