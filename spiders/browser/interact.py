"""What is done on a rendered page before its HTML is read: wait, scroll, "load more", reveal.

Each function is a scrapy-playwright page method (called with the page first), so it runs
inside the download handler, which closes the page on every path. Counts go to the crawl's
stats as ``adwatch/browser/<event>``.
"""

from __future__ import annotations

import logging
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeout
from scrapy.statscollectors import StatsCollector
from scrapy_playwright.page import PageMethod

from config.source_kinds import BrowserOptions

logger = logging.getLogger(__name__)

# How much the page holds: elements and height. A scroll or press that changes neither within
# ``settle_ms`` loaded nothing more.
_SIZE = "() => document.getElementsByTagName('*').length * 100000 + document.documentElement.scrollHeight"
_CHANGED = ("size => document.getElementsByTagName('*').length * 100000"
            " + document.documentElement.scrollHeight !== size")
_TO_BOTTOM = "() => window.scrollTo(0, document.documentElement.scrollHeight)"
# The page's own answer: its HTTP status (an error page, a 404 for a removed ad, has nothing to
# wait for) and how long the server took to answer it (seconds from request to first byte).
_ANSWER = ("() => { const n = performance.getEntriesByType('navigation')[0] || {};"
           " return [n.responseStatus || 0, Math.max(0, (n.responseStart || 0) - (n.requestStart || 0)) / 1000]; }")


async def _answer(page: Page) -> tuple[int, float | None]:
    """(HTTP status, server latency in seconds or None when unknown)."""
    try:
        status, latency = await page.evaluate(_ANSWER)
        return int(status), (float(latency) or None)
    except (PlaywrightError, TypeError, ValueError):
        return 0, None


def _stat(stats: StatsCollector | None, event: str, count: int = 1) -> None:
    if stats is not None:
        stats.inc_value(f"adwatch/browser/{event}", count)


async def _grew(page: Page, before: int, settle_ms: int) -> bool:
    """Whether the page grew within ``settle_ms`` (new cards arrived)."""
    try:
        await page.wait_for_function(_CHANGED, arg=before, timeout=max(settle_ms, 1), polling=50)
        return True
    except PlaywrightTimeout:
        return False


async def _press_load_more(page: Page, selector: str) -> bool:
    """Press the first visible, enabled 'load more' button; False when there is none."""
    button = page.locator(selector).first
    try:
        if not await button.is_visible() or not await button.is_enabled():
            return False
        await button.click(timeout=2_000)
    except PlaywrightError:  # gone between the look and the click, or covered: nothing more to load
        return False
    return True


async def prepare_listing(page: Page, opts: BrowserOptions, timeout_ms: float,
                          stats: StatsCollector | None = None) -> float | None:
    """Wait for the listing, then scroll and press 'load more' until nothing more arrives.

    Returns the server's latency for the page (the handler gives it to AutoThrottle)."""
    status, latency = await _answer(page)
    if status >= 400:
        return latency
    if opts.wait_for:
        await page.wait_for_selector(opts.wait_for, state="attached", timeout=timeout_ms)
    scrolls = presses = 0
    at_end = False  # a scroll or press brought nothing more
    while not at_end:
        can_scroll = scrolls < opts.scroll
        can_press = bool(opts.load_more) and presses < opts.max_loads
        if not (can_scroll or can_press):
            break  # the limits: the listing may hold more than this crawl saw
        before = await page.evaluate(_SIZE)
        if can_scroll:
            scrolls += 1
            await page.evaluate(_TO_BOTTOM)
            if await _grew(page, before, opts.settle_ms):
                _stat(stats, "scroll_loads")
                continue
        if can_press and opts.load_more and await _press_load_more(page, opts.load_more):
            presses += 1
            if await _grew(page, before, opts.settle_ms):
                _stat(stats, "load_more_presses")
                continue
        at_end = True
    complete = at_end or not (opts.scroll or opts.load_more)
    if not complete:
        _stat(stats, "listing_limit_reached")
    if complete and opts.listing_end and not await page.query_selector(opts.listing_end):
        complete = False  # nothing more came in settle_ms, but the site does not say it is the end
        _stat(stats, "listing_end_missing")
    if not complete:
        # The ads this listing did not load were not seen: the walk is not complete, and no ad
        # counts as removed this crawl (pipelines/crawlrun.py).
        if stats is not None:
            stats.inc_value("adwatch/spider/stopped_paging")
        logger.warning("browser: the listing %s may hold more ads than were loaded", page.url)
    return latency


async def prepare_detail(page: Page, opts: BrowserOptions, timeout_ms: float,
                         stats: StatsCollector | None = None) -> float | None:
    """Wait for the ad, click each 'show number' button once, wait for what it reveals.

    A reveal that does not come in time costs the number, not the ad: counted and logged.
    Returns the server's latency for the page (the handler gives it to AutoThrottle)."""
    status, latency = await _answer(page)
    if status >= 400:
        return latency
    if opts.detail_wait_for:
        await page.wait_for_selector(opts.detail_wait_for, state="attached", timeout=timeout_ms)
    clicked = 0
    for selector in opts.reveal:
        buttons = page.locator(selector)
        for index in range(await buttons.count()):
            try:
                # A real (trusted) mouse click, without Playwright's wait for the button to be
                # "stable" over animation frames: with several pages rendering on two cores that
                # wait alone took seconds. A button that is gone or has no box still fails at once.
                await buttons.nth(index).click(timeout=timeout_ms, force=True)
                clicked += 1
            except PlaywrightError as exc:
                _stat(stats, "reveal_click_failed")
                logger.info("browser: cannot click %s on %s: %s", selector, page.url, str(exc).splitlines()[0])
    if clicked:
        _stat(stats, "reveal_clicks", clicked)
    if clicked and opts.reveal_wait:
        try:
            await page.wait_for_selector(opts.reveal_wait, state="visible", timeout=timeout_ms)
            _stat(stats, "revealed")
        except PlaywrightTimeout:
            _stat(stats, "reveal_timeout")
            logger.warning("browser: nothing revealed (%s) on %s in time", opts.reveal_wait, page.url)
    return latency


def listing_methods(opts: BrowserOptions, stats: StatsCollector | None) -> list[Any]:
    return [PageMethod(prepare_listing, opts, opts.navigation_seconds() * 1000, stats)]


def detail_methods(opts: BrowserOptions, stats: StatsCollector | None) -> list[Any]:
    return [PageMethod(prepare_detail, opts, opts.navigation_seconds() * 1000, stats)]
