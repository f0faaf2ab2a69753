"""Normalize: HTML → clean text, Unicode NFKC, dates → UTC ISO 8601, age and price parsed.

The work is ``textclean.normalize_fields``, a pure function of the ad's raw fields, so it
can run in the worker process (``pipelines/worker.py``) as well as here; the pipeline
applies its answer: the cleaned fields, the events it counts, and whether the ad is dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from pipelines.textclean import INPUT_FIELDS, normalize_fields
from pipelines.worker_client import StageWorker, WorkerGone
from spiders.items import AdSighting

logger = logging.getLogger(__name__)

class NormalizePipeline:
    def __init__(self, stats: StatsCollector, max_text_chars: int = 20_000, worker: StageWorker | None = None) -> None:
        """``worker``: run ``normalize`` in the worker process (None: here)."""
        self.stats = stats
        self.max_text_chars = max_text_chars
        self.worker = worker

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NormalizePipeline:
        assert crawler.stats is not None
        return cls(crawler.stats, crawler.settings.getint("ADWATCH_MAX_TEXT_CHARS"), StageWorker.for_crawler(crawler))

    async def open_spider(self) -> None:
        if self.worker is not None:
            await self.worker.open()

    async def close_spider(self) -> None:
        if self.worker is not None:
            await self.worker.close()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, AdSighting):
            return item
        ad = ItemAdapter(item)
        raw = {name: ad.get(name) for name in INPUT_FIELDS}
        if self.worker is not None and self.worker.running:
            return self._in_worker(item, raw)
        return self._apply(item, normalize_fields(raw, self.max_text_chars))

    async def _in_worker(self, item: Any, raw: dict[str, Any]) -> Any:
        assert self.worker is not None
        try:
            answer = await self.worker.call("normalize", raw, {"max_text_chars": self.max_text_chars})
        except WorkerGone:
            answer = {"result": normalize_fields(raw, self.max_text_chars)}
        if "result" not in answer:  # the worker's own failure: the same code here says what it is
            return self._apply(item, normalize_fields(raw, self.max_text_chars))
        return self._apply(item, answer["result"])

    def _apply(self, item: Any, result: dict[str, Any]) -> Any:
        for event in result["events"]:
            self.stats.inc_value(f"adwatch/normalize/{event}")
        if result["dropped"]:
            raise DropItem(result["dropped"])
        ad = ItemAdapter(item)
        if result["bad_date"]:
            logger.debug("unreadable date %r on %s", result["bad_date"], ad.get("url"))
        for name, value in result["fields"].items():
            ad[name] = value
        return item
