"""Enrich: the NLP stage (``nlp.extract_many``) turns the ad's text into phones, towns,
language and indicators.

Items come one at a time (a Scrapy item pipeline returns each item before the next stage
sees it), so each ad goes through ``nlp.pipe`` as a batch of one: the same code path as
``adwatch extract``'s batches, without holding ads back from dedupe and the store.
"""

from __future__ import annotations

import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

import nlp
from geo.highways import nearest
from spiders.items import AdSighting

logger = logging.getLogger(__name__)


class EnrichPipeline:
    def __init__(self, stats: StatsCollector, default_region: str | None = None, highways: str | None = None) -> None:
        """``default_region``: ADWATCH_DEFAULT_REGION, for ads whose source names none (None: the
        setting, as ``nlp.pipeline`` reads it)."""
        self.stats = stats
        self.default_region = default_region
        self.highways = highways

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EnrichPipeline:
        assert crawler.stats is not None
        region = crawler.settings.get("ADWATCH_DEFAULT_REGION")
        # Load the NLP pipeline and its data now, once, not on the first ad mid-crawl.
        nlp.extract_many([{"text": "warm-up: ring 070-174 06 05 i Gävle", "title": "Ny i stan"}],
                         default_region=region)
        highways = crawler.settings.get("ADWATCH_HIGHWAYS") or None
        nearest(59.33, 18.07, extra=highways)  # load the roads now, and fail now on a bad file
        return cls(crawler.stats, region, highways)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, AdSighting):
            return item
        ad = ItemAdapter(item)
        try:
            facts = nlp.extract_many([{
                "text": ad.get("text") or "",
                "title": ad.get("title") or None,
                "region": ad.get("region") or None,
                "location_field": ad.get("location"),
                "phone_field": ad.get("phone_field"),
            }], default_region=self.default_region)[0]
        except Exception as exc:  # a bad ad is indexed without facts rather than lost
            self.stats.inc_value("adwatch/enrich/error")
            logger.error("enrich failed for %s: %s", ad.get("url"), exc)
            return item
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
