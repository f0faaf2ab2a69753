"""Run crawls of one or more sources in this process and report their crawl runs."""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.statscollectors import StatsCollector
from twisted.python.failure import Failure

from adwatch.core.clock import now_iso
from adwatch.crawl_lock import SourceBusy, refused
from adwatch.output import fail
from config.source_schema import check_base_url
from index import open_store
from index.open import store_config
from index.store import StoreUnavailable

NOT_STARTED = "the crawler did not start"


def run_crawls(settings: Settings, names: list[str], base_url: str | None = None,
               refresh: bool = False) -> list[dict[str, Any]]:
    """Crawl the named sources side by side; returns this crawl's run row for each source.

    A crawl that cannot start (a bad ``base_url``, a page module that fails, a store it
    cannot open) gets a ``failed`` row with the real reason, and one line on stderr, rather
    than a traceback or last week's row. Each crawl takes its source's lock
    (``adwatch/crawl_lock.py``); if another crawl held one, this raises SourceBusy once
    the others are done. Scrapy's reactor cannot restart, so call this at most once per
    process.
    """
    if base_url is not None:
        try:
            check_base_url(base_url)
        except ValueError as exc:  # checked before any crawler exists: none of them could start
            return record_not_started(settings, {name: f"--base-url: {exc}" for name in names})
    process = CrawlerProcess(settings)
    crawlers: list[Crawler | None] = []
    not_started: dict[str, str] = {}
    for name in names:
        try:
            crawler = process.create_crawler(name)
        except Exception as exc:  # e.g. no such spider: its source file no longer loads
            not_started[name] = _one_line(exc)
            crawlers.append(None)
            continue
        crawlers.append(crawler)
        done = process.crawl(crawler, base_url=base_url, refresh=refresh)
        # The crawl's own failure (the spider or an extension raised while starting): kept as
        # the reason, and handled here so Twisted does not print it as an unhandled traceback.
        done.addErrback(_keep_reason, not_started, name)
    process.start()
    busy = [name for name, crawler in zip(names, crawlers, strict=True) if refused(_stats(crawler))]
    if busy:
        raise SourceBusy.of(busy)
    try:
        return _run_rows(settings, names, crawlers, not_started)
    except StoreUnavailable as exc:
        # The ads are in the spool; report what the crawlers saw instead of what the store holds.
        return [_row_from_stats(name, crawler, str(exc)) for name, crawler in zip(names, crawlers, strict=True)]


def _keep_reason(failure: Failure, reasons: dict[str, str], name: str) -> None:
    reasons.setdefault(name, _one_line(failure.value) if failure.value is not None else "unknown error")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _stats(crawler: Crawler | None) -> StatsCollector | None:
    """The crawler's stats, or None for a crawler that never started (Scrapy raises on asking)."""
    return getattr(crawler, "_stats", None) if crawler is not None else None


def record_not_started(settings: Settings, reasons: dict[str, str]) -> list[dict[str, Any]]:
    """A ``failed`` run with its reason for each source whose crawl could not start."""
    try:
        store = open_store(store_config(settings))
    except StoreUnavailable as exc:
        return [_failed_row(name, f"{NOT_STARTED}: {reason} (not recorded: {exc})") for name, reason in reasons.items()]
    try:
        return [_failed_run(store, name, reason) for name, reason in reasons.items()]
    finally:
        store.close()


def _failed_run(store: Any, name: str, reason: str) -> dict[str, Any]:
    fail(f"{name}: {NOT_STARTED}: {reason}")
    started = now_iso()
    run_id = store.start_run(name, started)
    store.finish_run(run_id, finished_at=started, status="failed", reason=f"{NOT_STARTED}: {reason}")
    return next(r for r in store.runs(name, limit=5) if r["id"] == run_id)


def _failed_row(name: str, reason: str) -> dict[str, Any]:
    fail(f"{name}: {reason}")
    return {"id": None, "source": name, "started_at": now_iso(), "finished_at": now_iso(), "status": "failed",
            "pages": 0, "new_ads": 0, "updated_ads": 0, "removed_ads": 0, "errors": 1, "reason": reason,
            "stats": {}}


def _run_rows(settings: Settings, names: list[str], crawlers: list[Crawler | None],
              not_started: dict[str, str]) -> list[dict[str, Any]]:
    store = open_store(store_config(settings))
    try:
        runs = []
        for name, crawler in zip(names, crawlers, strict=True):
            stats = _stats(crawler)
            run_id = stats.get_value("adwatch/run_id") if stats else None
            row = next((r for r in store.runs(name, limit=20) if r["id"] == run_id), None) if run_id else None
            if row is None and stats and stats.get_value("response_received_count"):
                row = _row_from_stats(name, crawler, "the crawl run could not be recorded (store unavailable)")
            if row is None:
                row = _failed_run(store, name, not_started.get(name) or "see the log above")
            runs.append(row)
        return runs
    finally:
        store.close()


def _row_from_stats(name: str, crawler: Crawler | None, reason: str) -> dict[str, Any]:
    collector = _stats(crawler)
    stats = collector.get_stats() if collector else {}
    spooled = stats.get("adwatch/store/spooled_batches", 0)
    return {"id": stats.get("adwatch/run_id"), "source": name, "started_at": None, "finished_at": now_iso(),
            "status": "partial", "pages": stats.get("response_received_count", 0),
            "new_ads": stats.get("adwatch/store/new", 0), "updated_ads": stats.get("adwatch/store/updated", 0),
            "removed_ads": 0, "errors": stats.get("log_count/ERROR", 0),
            "reason": f"{reason}; {spooled} batches spooled, written by the next crawl or 'adwatch index flush'",
            "stats": {}}
