"""Enrich: the NLP stage (``nlp.extract_many``) turns the ad's text into phones, towns,
language and indicators.

With the stage worker on (``pipelines/worker_client.py``), the NLP runs in the worker
process: ``process_item`` returns an awaitable and Scrapy goes on crawling while the
worker reads the ad, together with the others of the same loop turn as one ``nlp.pipe``
batch. If the worker cannot start or stops, the ads are read here: the same code, the
same facts, nothing lost.
"""

from __future__ import annotations

import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from geo.highways import nearest
from pipelines.worker_client import WARM_UP, StageWorker, WorkerGone, one_line
from spiders.items import AdSighting

logger = logging.getLogger(__name__)


def _extract_many(records: list[dict[str, Any]], region: str | None) -> list[dict[str, Any]]:
    # Imported here: with the stage worker, this process never loads spaCy (less memory).
    import nlp

    return nlp.extract_many(records, default_region=region)


class EnrichPipeline:
    def __init__(self, stats: StatsCollector, default_region: str | None = None, highways: str | None = None,
                 worker: StageWorker | None = None) -> None:
        """``default_region``: ADWATCH_DEFAULT_REGION, for ads whose source names none (None: the
        setting, as ``nlp.pipeline`` reads it). ``worker``: run the NLP in the worker process."""
        self.stats = stats
        self.default_region = default_region
        self.highways = highways
        self.worker = worker

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EnrichPipeline:
        assert crawler.stats is not None
        region = crawler.settings.get("ADWATCH_DEFAULT_REGION")
        worker = StageWorker.for_crawler(crawler)
        if worker is None:  # load the NLP pipeline and its data now, once, not on the first ad mid-crawl
            _extract_many([WARM_UP], region)
        highways = crawler.settings.get("ADWATCH_HIGHWAYS") or None
        nearest(59.33, 18.07, extra=highways)  # load the roads now, and fail now on a bad file
        return cls(crawler.stats, region, highways, worker)

    async def open_spider(self) -> None:
        if self.worker is None:
            return
        await self.worker.open()
        if not self.worker.running:
            # Read the ads here instead; a pipeline that cannot load here either fails the crawl now.
            logger.error("%s; the crawl reads its ads in its own process", self.worker.start_error)
            _extract_many([WARM_UP], self.default_region)

    async def close_spider(self) -> None:
        if self.worker is not None:
            await self.worker.close()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, AdSighting):
            return item
        record = _record(ItemAdapter(item))
        if self.worker is not None and self.worker.running:
            return self._in_worker(item, record)
        return self._apply(item, self._extract_here(record))

    async def _in_worker(self, item: Any, record: dict[str, Any]) -> Any:
        assert self.worker is not None
        try:
            answer = await self.worker.call("extract", record, {"region": self.default_region})
        except WorkerGone:  # the worker died (it logged why): read this ad here
            answer = self._extract_here(record)
        return self._apply(item, answer)

    def _extract_here(self, record: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"result": _extract_many([record], self.default_region)[0]}
        except Exception as exc:
            return {"error": one_line(exc)}

    def _apply(self, item: Any, answer: dict[str, Any]) -> Any:
        ad = ItemAdapter(item)
        if "result" not in answer:  # a bad ad is indexed without facts rather than lost
            self.stats.inc_value("adwatch/enrich/error")
            logger.error("enrich failed for %s: %s", ad.get("url"), answer.get("error"))
            return item
        facts = answer["result"]
        for name, value in facts.items():
            ad[name] = value
        primary = facts["towns"][0] if facts["towns"] else None
        if primary:
            ad["town"], ad["county"] = primary["name"], primary["county"]
            ad["lat"], ad["lon"] = primary["lat"], primary["lon"]
            road = nearest(primary["lat"], primary["lon"], extra=self.highways)
            if road is not None:
                ad["road"], ad["road_km"] = road.road, road.km
        self.stats.inc_value("adwatch/enrich/ok")
        self.stats.inc_value("adwatch/enrich/phones", len(facts["phones"]))
        if not facts["phones"]:
            self.stats.inc_value("adwatch/enrich/no_phone")
        if not primary:
            self.stats.inc_value("adwatch/enrich/no_town")
        return item


def _record(ad: ItemAdapter) -> dict[str, Any]:
    """What the NLP reads of an ad (``nlp.extract``'s arguments)."""
    return {
        "text": ad.get("text") or "",
        "title": ad.get("title") or None,
        "region": ad.get("region") or None,
        "location_field": ad.get("location"),
        "phone_field": ad.get("phone_field"),
    }
