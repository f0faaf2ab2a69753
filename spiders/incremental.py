"""Incremental crawling as a spider middleware: known ads are not fetched again.

The source spider yields, for a listing page, a detail request per ad (its id in
``meta[AD_ID]``) and the next-page request (``meta[NEXT_PAGE]``). This middleware asks
the store once for the whole page, drops the requests for ads already indexed and says
that they are still listed (one ``AdSighting``), and drops the next-page request when
every ad on the page was seen before — only when the previous crawl of the source
finished ``ok``, so an interrupted crawl is resumed in full on the next run. With
``--refresh`` nothing is dropped, but the states are still fetched once per page for
dedupe (``spiders/adstates.py``). The store being unavailable means "nothing known":
every ad is fetched, and dedupe and the store merge them when it is back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector

from adwatch.core.clock import now_iso
from index import store_for_crawler
from index.store import AdState, StoreUnavailable
from spiders.adstates import AdStates, ad_states_for_crawler
from spiders.items import AdSighting

logger = logging.getLogger(__name__)

AD_ID = "adwatch_ad_id"  # request.meta: the ad a detail request fetches
NEXT_PAGE = "adwatch_next_page"  # request.meta: the listing's next page (not other listings it links)


class _PageOutput:
    """One callback's output, sorted: detail requests of ads, the next page, everything else."""

    def __init__(self) -> None:
        self.ads: list[Request] = []
        self.rest: list[Any] = []
        self.next_page: Request | None = None
        self.failure: Exception | None = None

    def add(self, out: Any) -> None:
        if isinstance(out, Request) and AD_ID in out.meta:
            self.ads.append(out)
        elif isinstance(out, Request) and out.meta.get(NEXT_PAGE):
            self.next_page = out
        else:
            self.rest.append(out)


class IncrementalMiddleware:
    def __init__(self, states: AdStates, stats: StatsCollector, source: str, skip_known: bool,
                 may_stop_paging: bool) -> None:
        self.states = states
        self.stats = stats
        self.source = source
        self.skip_known = skip_known  # False on --refresh: every ad is fetched again
        self.may_stop_paging = may_stop_paging
        # Ads this crawl asked for: once stored they look "known", but a page full of them
        # is news from this run, not a sign that the rest was seen before.
        self.requested: set[str] = set()
        # Every ad id the listing pages showed: after a complete walk, the rest are missing.
        states.listed = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IncrementalMiddleware:
        spider = crawler.spider
        src = getattr(spider, "src", None)
        if src is None:  # not a source spider (the bench's bare one): nothing to filter
            raise NotConfigured
        assert crawler.stats is not None
        store = store_for_crawler(crawler)
        # Asked now, before the crawl-run recorder enters this run as "running".
        try:
            previous = store.runs(src.name, limit=1)
        except StoreUnavailable as exc:  # crawl everything; the store sorts it out when it is back
            logger.error("store unavailable at start (%s): crawling every page", exc)
            previous = []
        resume_full = not previous or previous[0]["status"] != "ok"
        refresh = bool(getattr(spider, "refresh", False))
        return cls(ad_states_for_crawler(crawler, store), crawler.stats, src.name, skip_known=not refresh,
                   may_stop_paging=src.incremental.stop_on_known_page and not refresh and not resume_full)

    def _stat(self, key: str, count: int = 1) -> None:
        self.stats.inc_value(f"adwatch/spider/{key}", count)

    def _fetch(self, ids: list[str]) -> dict[str, AdState] | None:
        try:
            return self.states.fetch(ids)
        except StoreUnavailable:
            self._stat("store_unavailable")
            return None

    # Both forms (a "universal" spider middleware): the source spider's callbacks are plain
    # generators, and an async-only middleware would make Scrapy run every page's output of
    # every middleware through async wrappers.
    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterator[Any]:
        page = _PageOutput()
        try:
            for out in result:  # a listing page's output is small: look at all of it first
                page.add(out)
        except Exception as exc:  # the page broke part-way: what it yielded so far still counts
            page.failure = exc
        yield from self._emit(response, page)

    async def process_spider_output_async(self, response: Response, result: AsyncIterator[Any]
                                          ) -> AsyncIterator[Any]:
        page = _PageOutput()
        try:
            async for out in result:
                page.add(out)
        except Exception as exc:
            page.failure = exc
        for out in self._emit(response, page):
            yield out

    def _emit(self, response: Response, page: _PageOutput) -> Iterator[Any]:
        next_page = page.next_page
        if page.ads:
            kept, stop = self._filter(page.ads)
            yield from kept
            if next_page is not None and stop and page.failure is None:
                self._stat("stopped_paging")
                logger.info("%s: every ad on %s is indexed; not paging further", self.source, response.url)
                next_page = None
        yield from page.rest
        if next_page is not None:
            yield next_page
        if page.failure is not None:
            raise page.failure  # Scrapy logs it and counts the spider error, as for any callback

    def _filter(self, ads: list[Request]) -> tuple[list[Any], bool]:
        """(the requests still wanted and the sighting of the known ads, whether paging may stop here)"""
        ids = [request.meta[AD_ID] for request in ads]
        assert self.states.listed is not None
        self.states.listed.update(ids)
        stored = self._fetch(ids)
        known = set(stored or ()) if self.skip_known else set()
        seen_before = known - self.requested
        kept: list[Any] = []
        for request, ad_id in zip(ads, ids, strict=True):
            if ad_id in known:
                continue
            self.requested.add(ad_id)
            if stored is not None:  # dedupe takes the state from here, not from the store
                self.states.remember(ad_id, stored.get(ad_id))
            kept.append(request)
        if seen_before:
            self._stat("known_ads", len(seen_before))
            kept.append(AdSighting(ids=sorted(seen_before), source=self.source, seen_at=now_iso()))
        return kept, self.may_stop_paging and len(seen_before) == len(ads)
