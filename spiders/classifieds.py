"""The generic classifieds spider, driven by one declarative source file.

Listing pages → detail pages → ``Ad`` items, following pagination. The spider only
decides what to follow; the page objects (``spiders/pages/``) build the Ad, and the
incremental middleware (``spiders/incremental.py``) drops requests for ads already
indexed and stops paging at a listing page of known ads.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from config.source_schema import Source
from spiders.ids import ad_id
from spiders.incremental import AD_ID, NEXT_PAGE
from spiders.items import Ad
from spiders.pages import ListingPage, ad_page_class

logger = logging.getLogger(__name__)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class SourceSpider(scrapy.Spider):
    """Subclassed once per source file by ``spiders.loader`` (which sets ``source``)."""

    source: ClassVar[Source]

    def __init__(self, *args: Any, base_url: str | None = None, refresh: Any = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.src = self.source.rebased(base_url) if base_url else self.source
        self.allowed_domains = list(self.src.allowed_domains)
        self.refresh = _truthy(refresh)  # read by the incremental middleware
        self.page_cls = ad_page_class(self.src.page)
        self.default_region: str | None = None  # ADWATCH_DEFAULT_REGION, set in from_crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.default_region = crawler.settings.get("ADWATCH_DEFAULT_REGION")
        return spider

    @classmethod
    def politeness_settings(cls) -> dict[str, Any]:
        polite = cls.source.politeness
        return {
            "DOWNLOAD_DELAY": polite.delay,
            "AUTOTHROTTLE_START_DELAY": max(polite.delay, 0.1),
            "CONCURRENT_REQUESTS_PER_DOMAIN": polite.concurrency,
            "AUTOTHROTTLE_TARGET_CONCURRENCY": float(polite.concurrency),
            "ROBOTSTXT_OBEY": polite.obey_robots,
        }

    def _stat(self, key: str, count: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"adwatch/spider/{key}", count)

    # What a request carries besides the spider's own meta; None drops it. Browser sources
    # (spiders/browser/spider.py) send the pages they render through Chromium from here.
    def listing_meta(self, meta: dict[str, Any]) -> dict[str, Any] | None:
        return meta

    def detail_meta(self, meta: dict[str, Any]) -> dict[str, Any] | None:
        return meta

    def _listing_request(self, url: str, meta: dict[str, Any] | None = None) -> scrapy.Request | None:
        full = self.listing_meta(meta or {})
        return None if full is None else scrapy.Request(url, callback=self.parse_listing, errback=self.on_error,
                                                        meta=full)

    async def start(self) -> AsyncIterator[Any]:
        for url in self.src.start_urls:
            request = self._listing_request(url)
            if request is not None:
                yield request

    def parse_listing(self, response: Response) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            self._stat("not_text")
            self._stat("listing_errors")  # its ads went unseen: this walk is not complete
            return
        self._stat("listing_pages")
        page = ListingPage(response, self.src)
        urls = page.ad_urls()
        if not urls:
            self._stat("empty_listing")
        for url in urls:
            # The id goes along: after a redirect the ad keeps the id its listing gave it.
            meta = self.detail_meta({AD_ID: ad_id(self.src.name, url, self.src.ad_id_pattern)})
            if meta is not None:
                yield scrapy.Request(url, callback=self.parse_ad, errback=self.on_error, meta=meta)
        for url in page.listing_urls():
            if (request := self._listing_request(url)) is not None:
                yield request
        next_url = page.next_page_url()
        if next_url is not None and (request := self._listing_request(next_url, {NEXT_PAGE: True})) is not None:
            yield request

    def parse_ad(self, response: Response) -> Iterator[Ad]:
        if not isinstance(response, TextResponse):
            self._stat("not_text")
            return
        self._stat("detail_pages")
        if self.default_region is None:
            raise RuntimeError("the spider was not made by from_crawler: ADWATCH_DEFAULT_REGION unknown")
        page = self.page_cls(response, self.src, self.default_region, response.meta.get(AD_ID))
        try:
            ad = page.ad()
        except Exception as exc:  # one broken page must not stop the crawl
            self._stat("parse_error")
            logger.error("%s: cannot read ad page %s: %s", self.src.name, response.url, exc)
            return
        yield ad

    def on_error(self, failure: Failure) -> None:
        error = failure.value
        request = getattr(failure, "request", None)
        if request is not None and request.callback == self.parse_listing:
            # A listing page lost: the ads behind it were never seen, so this run is partial.
            self._stat("listing_errors")
        if isinstance(error, HttpError):
            status = error.response.status
            self._stat(f"http_{status}")
            logger.warning("%s: HTTP %s for %s", self.src.name, status, error.response.url)
        else:
            self._stat("download_error")
            logger.warning("%s: %s for %s", self.src.name, failure.getErrorMessage(),
                           request.url if request else "?")
