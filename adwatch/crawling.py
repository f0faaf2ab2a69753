"""Run crawls of one or more sources in this process and report their crawl runs."""

from __future__ import annotations

from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from adwatch.core.clock import now_iso
from adwatch.crawl_lock import SourceBusy, refused
from index import open_store
from index.open import store_config
from index.store import StoreUnavailable


def run_crawls(settings: Settings, names: list[str], base_url: str | None = None,
               refresh: bool = False) -> list[dict[str, Any]]:
    """Crawl the named sources side by side; returns this crawl's run row for each source.

    A source whose crawler never started (a broken page module, a store it cannot open)
    gets a ``failed`` row rather than last week's. Each crawl takes its source's lock
    (``adwatch/crawl_lock.py``); if another crawl held one, this raises SourceBusy once
    the others are done. Scrapy's reactor cannot restart, so call this at most once per
    process.
    """
    process = CrawlerProcess(settings)
    crawlers = []
    for name in names:
        crawler = process.create_crawler(name)
        crawlers.append(crawler)
        process.crawl(crawler, base_url=base_url, refresh=refresh)
    process.start()
    busy = [name for name, crawler in zip(names, crawlers, strict=True) if refused(crawler.stats)]
    if busy:
        raise SourceBusy.of(busy)
    try:
        return _run_rows(settings, names, crawlers)
    except StoreUnavailable as exc:
        # The ads are in the spool; report what the crawlers saw instead of what the store holds.
        return [_row_from_stats(name, crawler, str(exc)) for name, crawler in zip(names, crawlers, strict=True)]


def _run_rows(settings: Settings, names: list[str], crawlers: list[Any]) -> list[dict[str, Any]]:
    store = open_store(store_config(settings))
    try:
        runs = []
        for name, crawler in zip(names, crawlers, strict=True):
            run_id = crawler.stats.get_value("adwatch/run_id") if crawler.stats else None
            row = next((r for r in store.runs(name, limit=20) if r["id"] == run_id), None)
            if row is None and crawler.stats and crawler.stats.get_value("response_received_count"):
                row = _row_from_stats(name, crawler, "the crawl run could not be recorded (store unavailable)")
            if row is None:
                started = now_iso()
                run_id = store.start_run(name, started)
                store.finish_run(run_id, finished_at=started, status="failed",
                                 reason="the crawler did not start (see the log above)")
                row = store.runs(name, limit=1)[0]
            runs.append(row)
        return runs
    finally:
        store.close()


def _row_from_stats(name: str, crawler: Any, reason: str) -> dict[str, Any]:
    stats = crawler.stats.get_stats() if crawler.stats else {}
    spooled = stats.get("adwatch/store/spooled_batches", 0)
    return {"id": stats.get("adwatch/run_id"), "source": name, "started_at": None, "finished_at": now_iso(),
            "status": "partial", "pages": stats.get("response_received_count", 0),
            "new_ads": stats.get("adwatch/store/new", 0), "updated_ads": stats.get("adwatch/store/updated", 0),
            "removed_ads": 0, "errors": stats.get("log_count/ERROR", 0),
            "reason": f"{reason}; {spooled} batches spooled, written by the next crawl or 'adwatch index flush'",
            "stats": {}}
