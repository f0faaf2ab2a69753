"""Crawl-run recorder: every crawl becomes a row in the store's crawl runs.

Status: ``ok`` when the spider finished, ``interrupted`` on Ctrl-C/SIGTERM or when
Scrapy closed it early, ``failed`` when nothing could be fetched at all. While it runs, the
run names its crawl and the source lock it holds, so a crawl that dies without finishing
(SIGKILL) is found ``crashed`` by the next look (``index.rules.crashed``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from adwatch.core.clock import now_iso
from adwatch.crawl_lock import HELD_STAT, refused, this_host
from index import Store, store_for_crawler
from index.rules import RunOwner, owner_stats
from index.store import StoreUnavailable
from spiders.adstates import AdStates, ad_states_for_crawler

logger = logging.getLogger(__name__)


def run_status(reason: str, stats: dict[str, Any]) -> str:
    """ok · partial (finished, but a listing page was lost or writes wait in the spool) ·
    interrupted · failed. Only ``ok`` lets the next crawl stop paging at known ads."""
    if stats.get("adwatch/store/not_stored"):  # records kept nowhere (index/writer.py): never ok
        return "failed"
    if reason == "finished":
        fetched = stats.get("adwatch/spider/listing_pages", 0) + stats.get("adwatch/spider/detail_pages", 0)
        if not fetched or _yielded_nothing(stats):
            return "failed"
        # A callback that raised (Scrapy counts it as spider_exceptions/count) lost what the page
        # held after the fault: a listing's later ads, a channel's "load older".
        # A page the archive could not keep (adwatch/evidence/) is stored without its evidence.
        lost = (stats.get("adwatch/spider/listing_errors", 0) + stats.get("adwatch/store/spooled_batches", 0)
                + stats.get("adwatch/pipeline/item_error", 0) + stats.get("spider_exceptions/count", 0)
                + stats.get("adwatch/evidence/not_archived", 0))
        return "partial" if lost else "ok"
    if reason in ("shutdown", "closespider_timeout", "closespider_itemcount", "closespider_pagecount"):
        return "interrupted"
    return "failed"


def _yielded_nothing(stats: dict[str, Any]) -> bool:
    """Listing pages came back, and not one of them listed an ad."""
    listings = stats.get("adwatch/spider/listing_pages", 0)
    return bool(listings) and stats.get("adwatch/spider/empty_listing", 0) >= listings


def complete_walk(status: str, stats: dict[str, Any]) -> bool:
    """Every listing page was seen: only then does an ad's absence mean anything."""
    return status == "ok" and not stats.get("adwatch/spider/stopped_paging", 0)


def _reason(reason: str, status: str, stats: dict[str, Any]) -> str | None:
    if status == "ok":
        return None
    if stats.get("adwatch/store/not_stored") and not reason.startswith("not_stored"):
        return f"not_stored: {stats['adwatch/store/not_stored']} records kept nowhere (disk full?), see the log"
    if status == "partial":
        lost_ads = stats.get("adwatch/pipeline/item_error", 0)
        broken = stats.get("spider_exceptions/count", 0)
        unarchived = stats.get("adwatch/evidence/not_archived", 0)
        return (f"{stats.get('adwatch/spider/listing_errors', 0)} listing pages lost, "
                f"{stats.get('adwatch/store/spooled_batches', 0)} batches spooled"
                + (f", {lost_ads} ads failed in a pipeline stage (see the log)" if lost_ads else "")
                + (f", {broken} pages broke off while read (see the log)" if broken else "")
                + (f", {unarchived} pages not archived as evidence (see the log)" if unarchived else ""))
    if status == "failed" and reason == "finished" and _yielded_nothing(stats):
        return (f"the {stats.get('adwatch/spider/listing_pages', 0)} listing pages held no ads: "
                "the selectors no longer fit the site, or the site blocks us")
    if status == "failed" and reason == "finished":
        return "nothing could be fetched"
    return reason


class CrawlRunRecorder:
    def __init__(self, store: Store, stats: StatsCollector, removed_after: int = 2,
                 seen: AdStates | None = None) -> None:
        self.store = store
        self.stats = stats
        self.removed_after = removed_after
        self.seen = seen  # its ``listed``: the ads the listing pages showed
        self.run_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRunRecorder:
        assert crawler.stats is not None
        store = store_for_crawler(crawler)
        recorder = cls(store, crawler.stats, crawler.settings.getint("ADWATCH_REMOVED_AFTER"),
                       ad_states_for_crawler(crawler, store))
        crawler.signals.connect(recorder.spider_opened, signal=signals.spider_opened)
        # After the item pipelines have flushed (they close on spider_closed first).
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(recorder.item_error, signal=signals.item_error)
        return recorder

    def item_error(self) -> None:
        # A stage raised on an ad (Scrapy logged it and dropped the ad): the run cannot be "ok".
        self.stats.inc_value("adwatch/pipeline/item_error")

    def spider_opened(self, spider: Spider) -> None:
        if refused(self.stats):  # another crawl of the source runs: this one is no run of its own
            return
        lock = self.stats.get_value(HELD_STAT)  # this crawl holds the source's lock (SourceLock, before us)
        try:
            if lock:  # a run of this source still "running" under our lock is a crashed crawl's
                self.store.mark_crashed(spider.name, holding=lock)
            self.run_id = self.store.start_run(spider.name, now_iso())
            if lock:  # so that any later look can tell when this crawl is gone without finishing
                self.store.finish_run(self.run_id, stats=owner_stats(RunOwner(this_host(), os.getpid(), lock)))
        except StoreUnavailable as exc:  # the crawl itself goes on; its ads are spooled
            logger.error("crawl run not recorded: store unavailable (%s)", exc)
            if self.run_id is None:
                return
        self.stats.set_value("adwatch/run_id", self.run_id)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.run_id is None:
            return
        stats = self.stats.get_stats()
        errors = sum(v for k, v in stats.items() if k.startswith(("log_count/ERROR", "adwatch/spider/http_",
                                                                    "adwatch/spider/download_error",
                                                                    "adwatch/spider/parse_error")))
        status = run_status(reason, stats)
        removed = 0
        listed = self.seen.listed if self.seen is not None else None
        if listed is not None and complete_walk(status, stats):
            try:
                removed = self.store.mark_missing(spider.name, listed, now_iso(), self.removed_after)
            except Exception as exc:  # the run is still recorded; the next complete crawl counts again
                logger.error("removed ads not marked for %s: %s", spider.name, exc)
        try:
            self._finish(stats, status, errors, reason, removed)
        except StoreUnavailable as exc:
            logger.error("crawl run %s not finished in the store: store unavailable (%s)", self.run_id, exc)
        except Exception as exc:  # a full disk, say: the row shows "crashed" once this crawl is gone
            logger.error("crawl run %s not finished in the store (%s: %s)", self.run_id, type(exc).__name__,
                         " ".join(str(exc).split()))

    def _finish(self, stats: dict[str, Any], status: str, errors: int, reason: str, removed: int) -> None:
        assert self.run_id is not None
        self.store.finish_run(
            self.run_id,
            finished_at=now_iso(),
            status=status,
            pages=stats.get("response_received_count", 0),
            new_ads=stats.get("adwatch/store/new", 0),
            updated_ads=stats.get("adwatch/store/updated", 0),
            removed_ads=removed,
            errors=errors,
            reason=_reason(reason, status, stats),
            stats={k: v for k, v in stats.items() if k.startswith(("adwatch/", "downloader/response_status",
                                                                   "item_", "response_", "elapsed_time"))},
        )
