"""Keep the garbage collector off the data a crawl loads once (NLP lexicons, gazetteer, roads).

A crawl process holds a few hundred thousand long-lived objects by the time the spider
opens; every full collection walks all of them again, while Scrapy's requests and items
keep triggering collections. ``gc.freeze()`` moves what exists at that moment into the
permanent generation, so collections only walk what the crawl itself creates (about 6 %
of the crawl's CPU on the demo site, see bench/crawl_bench.py). Objects frozen are never
collected as cycles; that is the price of a one-crawl process, and only startup objects pay it.
"""

from __future__ import annotations

import gc

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured


class FreezeLoadedData:
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FreezeLoadedData:
        if not crawler.settings.getbool("ADWATCH_GC_FREEZE"):
            raise NotConfigured
        extension = cls()
        # The item pipelines (and with them the NLP data) are built before the spider opens.
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        gc.freeze()
