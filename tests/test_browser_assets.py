"""The browser's asset cache (spiders/browser/assets.py) keeps only what a site lets browsers
cache, and AutoThrottle is given the server's own latency, not the time a render took."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy_playwright.page import PageMethod

from spiders.browser.assets import MAX_ASSET_BYTES, AssetCache, cache_seconds
from spiders.browser.handler import _server_latency_for_autothrottle

JS = {"Content-Type": "application/javascript", "Cache-Control": "public, max-age=60"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("header", "seconds"), [
    ("public, max-age=3600", 3600), ("max-age=5", 5), ("MAX-AGE=7, public", 7),
    ("no-cache", 0), ("no-store, max-age=60", 0), ("private, max-age=60", 0), ("public", 0), (None, 0),
    ("max-age=60, no-cache", 0),
])
def test_cache_seconds_reads_what_the_site_allows(header: str | None, seconds: int) -> None:
    assert cache_seconds(header) == seconds


def test_a_script_the_site_lets_browsers_cache_is_served_until_its_age_passes() -> None:
    clock = Clock()
    cache = AssetCache(clock=clock)
    assert cache.offer("http://s/app.js", "GET", "script", 200, JS, b"js")
    hit = cache.get("http://s/app.js")
    assert hit is not None and hit.body == b"js" and hit.headers["content-type"] == "application/javascript"
    clock.now += 61
    assert cache.get("http://s/app.js") is None and len(cache) == 0


@pytest.mark.parametrize(("method", "kind", "status", "headers", "body"), [
    ("POST", "script", 200, JS, b"x"),                       # only GET
    ("GET", "xhr", 200, JS, b"x"),                           # answers to fetch/XHR: data, never kept
    ("GET", "document", 200, JS, b"x"),                      # pages: never kept
    ("GET", "script", 404, JS, b"x"),                        # only a 200
    ("GET", "script", 200, {**JS, "Cache-Control": "no-store"}, b"x"),
    ("GET", "script", 200, {**JS, "Set-Cookie": "s=1"}, b"x"),  # something of a session
    ("GET", "script", 200, {**JS, "Vary": "Cookie"}, b"x"),
    ("GET", "script", 200, JS, b"x" * (MAX_ASSET_BYTES + 1)),
])
def test_what_is_not_the_sites_static_asset_is_never_kept(method: str, kind: str, status: int,
                                                           headers: dict[str, str], body: bytes) -> None:
    cache = AssetCache()
    assert not cache.offer("http://s/a", method, kind, status, headers, body)
    assert cache.get("http://s/a") is None


def test_the_cache_has_a_size_limit_and_drops_the_oldest_first() -> None:
    cache = AssetCache(max_total=10)
    for name in "abc":
        cache.offer(f"http://s/{name}.css", "GET", "stylesheet", 200, JS, b"12345")
    assert cache.get("http://s/a.css") is None
    assert cache.get("http://s/b.css") is not None and cache.get("http://s/c.css") is not None


def test_autothrottle_gets_the_servers_latency_not_the_render_time() -> None:
    method = PageMethod(lambda page: None)
    method.result = 0.12
    request = Request("http://s/ad/1", meta={"playwright_page_methods": [method], "download_latency": 2.5})
    _server_latency_for_autothrottle(request)
    assert request.meta["download_latency"] == 0.12
    unknown = PageMethod(lambda page: None)  # no latency measured: the render time stays
    other = Request("http://s/ad/2", meta={"playwright_page_methods": [unknown], "download_latency": 2.5})
    _server_latency_for_autothrottle(other)
    assert other.meta["download_latency"] == 2.5
