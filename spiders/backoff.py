"""Back off from a site that says it is overloaded (429/503), honouring Retry-After.

Scrapy's RetryMiddleware re-sends the request; this raises the download slot's delay
first, so the retry (and everything else to that site) waits. AutoThrottle lowers the
delay again as healthy responses come back.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

_OVERLOADED = {429, 503}


def retry_after_seconds(value: bytes | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value.decode("latin-1").strip()))
    except ValueError:
        return None  # an HTTP date: fall back to exponential backoff


class BackoffMiddleware:
    def __init__(self, crawler: Crawler, base: float, ceiling: float) -> None:
        self.crawler = crawler
        self.base = base
        self.ceiling = ceiling
        self.strikes: dict[str, int] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffMiddleware:
        if not crawler.settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        return cls(crawler, crawler.settings.getfloat("ADWATCH_BACKOFF_BASE"),
                   crawler.settings.getfloat("ADWATCH_BACKOFF_MAX"))

    def process_response(self, request: Request, response: Response) -> Any:
        key = request.meta.get("download_slot")
        if not isinstance(key, str) or self.crawler.engine is None:
            return response
        slot = self.crawler.engine.downloader.slots.get(key)
        if slot is None:
            return response
        if response.status in _OVERLOADED:
            strikes = self.strikes.get(key, 0) + 1
            self.strikes[key] = strikes
            wanted = retry_after_seconds(response.headers.get(b"Retry-After"))
            delay = min(self.ceiling, wanted if wanted is not None else self.base * 2 ** (strikes - 1))
            slot.delay = max(slot.delay, delay)
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("adwatch/spider/backoff")
        elif 200 <= response.status < 300:
            self.strikes.pop(key, None)
        return response
