"""The scripts and stylesheets a site lets browsers cache, kept for one crawl.

scrapy-playwright routes every request of a page through Python (to set Scrapy's headers and
to block what the source blocks), and Chromium turns its HTTP cache off for routed pages. So
without this, each rendered ad would fetch the site's JavaScript again: one more request to
the site and one more round trip per page. Here an asset is kept when the site allows it —
a 200 answer to a GET whose Cache-Control has ``max-age`` (and neither ``no-store``,
``no-cache`` nor ``private``) — until that age passes, and served to the next pages from
memory. Nothing else is cached: documents, XHR/fetch answers and anything personal go to the
site every time.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass

CACHED_TYPES = frozenset({"script", "stylesheet"})
MAX_ASSET_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 32 * 1024 * 1024
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_FORBIDS = re.compile(r"(?:^|,)\s*(no-store|no-cache|private)\b", re.IGNORECASE)
# Headers a cached answer is served with: what the page needs to use it, nothing of the session.
_KEPT_HEADERS = ("content-type", "cache-control", "etag", "last-modified")


@dataclass(frozen=True)
class Asset:
    status: int
    headers: dict[str, str]
    body: bytes
    expires: float


def cache_seconds(cache_control: str | None) -> int:
    """How long an answer may be reused, from its Cache-Control (0: not at all)."""
    if not cache_control or _FORBIDS.search(cache_control):
        return 0
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else 0


class AssetCache:
    def __init__(self, max_total: int = MAX_TOTAL_BYTES, clock: object = time.monotonic) -> None:
        self._assets: OrderedDict[str, Asset] = OrderedDict()
        self._total = 0
        self.max_total = max_total
        self._clock = clock

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def get(self, url: str) -> Asset | None:
        asset = self._assets.get(url)
        if asset is None:
            return None
        if asset.expires <= self._now():
            self._drop(url)
            return None
        self._assets.move_to_end(url)
        return asset

    def offer(self, url: str, method: str, resource_type: str, status: int, headers: dict[str, str],
              body: bytes) -> bool:
        """Keep an answer if the site allows browsers to cache it; True when kept."""
        lowered = {k.lower(): v for k, v in headers.items()}
        seconds = cache_seconds(lowered.get("cache-control"))
        if (method != "GET" or resource_type not in CACHED_TYPES or status != 200 or seconds <= 0
                or len(body) > MAX_ASSET_BYTES or "set-cookie" in lowered or "vary" in lowered):
            return False
        self._drop(url)
        kept = {k: v for k, v in lowered.items() if k in _KEPT_HEADERS}
        self._assets[url] = Asset(status, kept, body, self._now() + seconds)
        self._total += len(body)
        while self._total > self.max_total and self._assets:  # the oldest go first
            self._drop(next(iter(self._assets)))
        return True

    def _drop(self, url: str) -> None:
        asset = self._assets.pop(url, None)
        if asset is not None:
            self._total -= len(asset.body)

    def __len__(self) -> int:
        return len(self._assets)
