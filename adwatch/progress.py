"""A one-line crawl progress report on stderr, only when stderr is a terminal.

Piped or scheduled runs stay quiet (their record is the crawl run); a person watching
a crawl sees pages, new ads and errors tick up.
"""

from __future__ import annotations

import sys

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task


class ProgressReporter:
    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressReporter:
        interval = crawler.settings.getfloat("ADWATCH_PROGRESS_INTERVAL")
        if interval <= 0 or not sys.stderr.isatty():
            raise NotConfigured  # no message: Scrapy would log one as a warning on every piped run
        reporter = cls(crawler, interval)
        crawler.signals.connect(reporter.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(reporter.spider_closed, signal=signals.spider_closed)
        return reporter

    def line(self, spider: Spider) -> str:
        assert self.crawler.stats is not None
        get = self.crawler.stats.get_value
        errors = sum(v for k, v in self.crawler.stats.get_stats().items() if k.startswith("adwatch/spider/http_"))
        return (f"{spider.name}: {get('response_received_count', 0)} pages · {get('adwatch/store/new', 0)} new · "
                f"{get('adwatch/dedupe/changed', 0)} changed · {get('adwatch/spider/known_ads', 0)} known · "
                f"{errors} errors")

    def spider_opened(self, spider: Spider) -> None:
        self.loop = task.LoopingCall(lambda: sys.stderr.write(self.line(spider) + "\n"))
        self.loop.start(self.interval, now=False)

    def spider_closed(self, spider: Spider) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
