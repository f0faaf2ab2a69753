"""The generic classifieds spider, driven by one declarative source file.

Listing pages → detail pages → ``Ad`` items, following pagination. Incremental: a
known ad is not fetched again (an ``AdSighting`` records that it is still listed),
and paging stops at a listing page that holds only known ads — but only when the
previous crawl of the source finished cleanly, so an interrupted crawl is resumed in
full on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, ClassVar

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from adwatch.core.clock import now_iso
from config.source_schema import Source
from index import store_for_crawler
from index.store import StoreUnavailable
from spiders.ids import ad_id, site_ad_id
from spiders.items import Ad, AdSighting
from spiders.pages import ListingPage, ad_page_class

logger = logging.getLogger(__name__)


def _tolerant(known_ids: Callable[[Iterable[str]], set[str]], spider: SourceSpider
              ) -> Callable[[Iterable[str]], set[str]]:
    """known_ids that answers "none known" while the store is unavailable: the ads are then
    fetched again, and dedupe and the store merge them with what is already indexed."""

    def ask(ids: Iterable[str]) -> set[str]:
        try:
            return known_ids(ids)
        except StoreUnavailable:
            spider._stat("store_unavailable")
            return set()

    return ask


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class SourceSpider(scrapy.Spider):
    """Subclassed once per source file by ``spiders.loader`` (which sets ``source``)."""

    source: ClassVar[Source]

    def __init__(self, *args: Any, base_url: str | None = None, refresh: Any = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.src = self.source.rebased(base_url) if base_url else self.source
        self.allowed_domains = list(self.src.allowed_domains)
        self.refresh = _truthy(refresh)
        self.page_cls = ad_page_class(self.src.page)
        self.default_region = "SE"  # replaced by ADWATCH_DEFAULT_REGION in from_crawler
        self.known_ids: Callable[[Iterable[str]], set[str]] = lambda ids: set()
        self.resume_full = True  # until we know the previous run finished cleanly
        # Ads this crawl asked for: once stored they look "known", but a page full of them
        # is news from this run, not a sign that the rest was seen before.
        self.requested: set[str] = set()
        # Every ad id the listing pages showed: after a complete walk, the rest are missing.
        self.listed: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        store = store_for_crawler(crawler)
        spider.known_ids = _tolerant(store.known_ids, spider)
        spider.default_region = crawler.settings.get("ADWATCH_DEFAULT_REGION")
        try:
            previous = store.runs(spider.src.name, limit=1)
        except StoreUnavailable as exc:  # crawl everything; the store sorts it out when it is back
            spider.logger.error("store unavailable at start (%s): crawling every page", exc)
            previous = []
        spider.resume_full = not previous or previous[0]["status"] != "ok"
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

    async def start(self) -> AsyncIterator[Any]:
        for url in self.src.start_urls:
            yield scrapy.Request(url, callback=self.parse_listing, errback=self.on_error)

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
        ids = {url: ad_id(self.src.name, url, self.src.ad_id_pattern) for url in urls}
        self.listed.update(ids.values())
        known = set() if self.refresh else self.known_ids(ids.values())
        seen_before = known - self.requested
        for url, item_id in ids.items():
            if item_id not in known:
                self.requested.add(item_id)
                # The id goes along: after a redirect the ad keeps the id its listing gave it.
                yield scrapy.Request(url, callback=self.parse_ad, errback=self.on_error,
                                     cb_kwargs={"item_id": item_id})
        if seen_before:
            self._stat("known_ads", len(seen_before))
            yield AdSighting(ids=sorted(seen_before), source=self.src.name, seen_at=now_iso())
        for url in page.listing_urls():
            yield scrapy.Request(url, callback=self.parse_listing, errback=self.on_error)
        next_url = page.next_page_url()
        if next_url is None:
            return
        if urls and len(seen_before) == len(ids) and self._may_stop_paging():
            self._stat("stopped_paging")
            logger.info("%s: every ad on %s is indexed; not paging further", self.src.name, response.url)
            return
        yield scrapy.Request(next_url, callback=self.parse_listing, errback=self.on_error)

    def _may_stop_paging(self) -> bool:
        return self.src.incremental.stop_on_known_page and not self.refresh and not self.resume_full

    def parse_ad(self, response: Response, item_id: str | None = None) -> Iterator[Ad]:
        if not isinstance(response, TextResponse):
            self._stat("not_text")
            return
        self._stat("detail_pages")
        page = self.page_cls(response, self.src)
        try:
            ad = Ad(
                id=item_id or ad_id(self.src.name, response.url, self.src.ad_id_pattern),
                source=self.src.name,
                url=response.url,
                site_id=site_ad_id(response.url, self.src.ad_id_pattern)
                or site_ad_id(response.request.url if response.request else "", self.src.ad_id_pattern),
                fetched_at=now_iso(),
                region=self.src.region or self.default_region,
                timezone=self.src.timezone,
                title=page.title(),
                text=page.text(),
                posted_at=page.posted_at(),
                location=page.location(),
                poster=page.poster(),
                age=page.age(),
                price=page.price(),
                phone_field=page.phone(),
                images=page.images(),
            )
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
