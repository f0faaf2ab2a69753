"""Normalize: HTML → clean text, Unicode NFKC, dates → UTC ISO 8601, age and price parsed.

The work is ``textclean.normalize_fields``, a pure function of the ad's raw fields, so it
can run in the worker process (``pipelines/worker.py``) as well as here; the pipeline
applies its answer: the cleaned fields, the events it counts, and whether the ad is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from pipelines.textclean import INPUT_FIELDS, Caps, normalize_safely
from pipelines.worker_client import StageWorker, WorkerGone
from spiders.items import AdSighting

logger = logging.getLogger(__name__)

class NormalizePipeline:
    def __init__(self, stats: StatsCollector, max_text_chars: int = 20_000, worker: StageWorker | None = None,
                 caps: Caps | None = None) -> None:
        """``caps``: how much of each field an ad keeps (``max_text_chars`` sets the text's when
        no caps are given). ``worker``: run ``normalize_fields`` in the worker process (None: here)."""
        self.stats = stats
        self.caps = caps or Caps(text=max_text_chars)
        self.worker = worker

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NormalizePipeline:
        assert crawler.stats is not None
        settings = crawler.settings
        caps = Caps(text=settings.getint("ADWATCH_MAX_TEXT_CHARS"), field=settings.getint("ADWATCH_MAX_FIELD_CHARS"),
                    images=settings.getint("ADWATCH_MAX_IMAGES"))
        return cls(crawler.stats, caps.text, StageWorker.for_crawler(crawler), caps)

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
        return self._apply(item, normalize_safely(raw, self.caps))

    async def _in_worker(self, item: Any, raw: dict[str, Any]) -> Any:
        assert self.worker is not None
        try:
            answer = await self.worker.call("normalize", raw, asdict(self.caps))
        except WorkerGone:  # the worker died (it logged why): clean this ad here
            answer = {}
        return self._apply(item, answer["result"] if "result" in answer else normalize_safely(raw, self.caps))

    def _apply(self, item: Any, result: dict[str, Any]) -> Any:
        ad = ItemAdapter(item)
        for event in result["events"]:
            self.stats.inc_value(f"adwatch/normalize/{event}")
        if result.get("error"):  # kept, roughly cleaned: the error says what a test should cover
            logger.error("normalize failed for %s (kept with tags stripped): %s", ad.get("url"), result["error"])
        if result["dropped"]:
            raise DropItem(result["dropped"])
        if result["bad_date"]:
            logger.debug("unreadable date %r on %s", result["bad_date"], ad.get("url"))
        for name, value in result["fields"].items():
            ad[name] = value
        return item
