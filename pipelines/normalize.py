"""Normalize: HTML → clean text, Unicode NFKC, dates → UTC ISO 8601, age and price parsed."""

from __future__ import annotations

import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from adwatch.core.clock import iso
from pipelines.textclean import html_to_text, parse_age, parse_posted, parse_price
from spiders.items import AdSighting

logger = logging.getLogger(__name__)


class NormalizePipeline:
    def __init__(self, stats: StatsCollector, max_text_chars: int = 20_000) -> None:
        self.stats = stats
        self.max_text_chars = max_text_chars

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NormalizePipeline:
        assert crawler.stats is not None
        return cls(crawler.stats, crawler.settings.getint("ADWATCH_MAX_TEXT_CHARS"))

    def process_item(self, item: Any) -> Any:
        if isinstance(item, AdSighting):
            return item
        ad = ItemAdapter(item)
        for name in ("title", "text", "location", "poster", "phone_field"):
            if ad.get(name):
                ad[name] = html_to_text(ad[name])
        text = ad.get("text") or ""
        if len(text) > self.max_text_chars:
            ad["text"] = text[: self.max_text_chars]
            self.stats.inc_value("adwatch/normalize/text_truncated")
        if not ad.get("title") and not ad.get("text") and not ad.get("phone_field"):
            self.stats.inc_value("adwatch/normalize/empty")
            raise DropItem(f"empty ad (no title, text or phone): {ad.get('url')}")
        if not ad.get("text"):
            self.stats.inc_value("adwatch/normalize/no_text")
        self._dates(ad)
        ad["age"] = parse_age(ad.get("age"))
        ad["price"], currency = parse_price(ad.get("price"))
        ad["currency"] = currency
        ad["images"] = list(dict.fromkeys(ad.get("images") or []))
        self.stats.inc_value("adwatch/normalize/ok")
        return item

    def _dates(self, ad: ItemAdapter) -> None:
        raw = ad.get("posted_at")
        posted = parse_posted(html_to_text(raw) if raw else None, ad.get("timezone") or "UTC")
        if raw and posted is None:
            self.stats.inc_value("adwatch/normalize/bad_date")
            logger.debug("unreadable date %r on %s", raw, ad.get("url"))
        ad["posted_at"] = iso(posted) if posted else None
