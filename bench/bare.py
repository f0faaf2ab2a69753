"""The baseline of the crawl benchmark: a bare Scrapy spider, same links, no pipelines.

It follows exactly what a source's selectors point at (listing pages, pagination, ad
pages) with the project's download settings, and does nothing with what it fetches.
Run as ``python -m bench.bare BASE_URL SOURCE [SOURCE …]``; prints one JSON line of stats.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response, TextResponse

from adwatch.settings import load_settings
from config.source_schema import Source, load_sources
from spiders.loader import source_spider_class
from spiders.pages import ListingPage


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, source: Source, **kwargs: Any) -> None:
        super().__init__(name=f"bare_{source.name}", **kwargs)
        self.src = source
        self.allowed_domains = list(source.allowed_domains)

    async def start(self) -> AsyncIterator[Any]:
        for url in self.src.start_urls:
            yield scrapy.Request(url, callback=self.parse_listing)

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        if not isinstance(response, TextResponse):
            return
        page = ListingPage(response, self.src)
        for url in page.ad_urls():
            yield scrapy.Request(url, callback=self.parse_ad)
        for url in page.listing_urls():
            yield scrapy.Request(url, callback=self.parse_listing)
        next_url = page.next_page_url()
        if next_url:
            yield scrapy.Request(next_url, callback=self.parse_listing)

    def parse_ad(self, response: Response) -> None:
        return None


def main(argv: list[str]) -> int:
    base_url, names = argv[0], argv[1:]
    settings = load_settings({"LOG_LEVEL": "ERROR", "ITEM_PIPELINES": {}, "EXTENSIONS": {}, "SPIDER_MIDDLEWARES": {}})
    sources, _ = load_sources(settings.get("ADWATCH_SOURCES_DIR"))
    process = CrawlerProcess(settings)
    crawlers = []
    for name in names:
        source = sources[name].rebased(base_url)
        # The same per-source politeness settings the source spiders get.
        polite = source_spider_class(sources[name]).politeness_settings()
        crawler = process.create_crawler(type(f"Bare{name}", (BareSpider,), {"custom_settings": polite}))
        crawlers.append(crawler)
        process.crawl(crawler, source=source)
    process.start()
    stats = [c.stats.get_stats() if c.stats else {} for c in crawlers]
    print(json.dumps([{"pages": s.get("response_received_count", 0), "elapsed": s.get("elapsed_time_seconds", 0.0)}
                      for s in stats]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
