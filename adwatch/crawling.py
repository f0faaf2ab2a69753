"""Run crawls of one or more sources in this process and report their crawl runs."""

from __future__ import annotations

from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from index import open_store


def run_crawls(settings: Settings, names: list[str], base_url: str | None = None,
               refresh: bool = False) -> list[dict[str, Any]]:
    """Crawl the named sources side by side; returns their crawl-run rows (newest run each).

    Scrapy's reactor cannot restart, so call this at most once per process.
    """
    process = CrawlerProcess(settings)
    for name in names:
        process.crawl(name, base_url=base_url, refresh=refresh)
    process.start()
    store = open_store(settings)
    try:
        return [run for name in names for run in store.runs(name, limit=1)]
    finally:
        store.close()
