"""The download handler of browser sources: scrapy-playwright's, with the limits a watch needs.

Only requests marked ``meta["playwright"]`` (``spiders/browser/spider.py``) are rendered;
robots.txt and every other request go through Scrapy's plain HTTP handler. On top of
scrapy-playwright this handler:

- launches the system Chromium (``spiders/browser/chromium.py``), never Playwright's download;
- gives each page a deadline for everything (load, scroll, clicks, reading the HTML): a hung
  page — a script in an endless loop — fails alone with ``PageTimeout``, and its page is closed;
- closes a page on every path (scrapy-playwright closes it on success and on errors; the
  deadline's cancellation is closed here) and counts pages still open at the end;
- restarts the browser after ``restart_after_pages`` pages, or when the browser's process tree
  uses more than ``memory_limit_mb``: new pages wait, the open ones finish, the browser closes
  and the next page launches a fresh one;
- aborts the resource types the source blocks (images, fonts, media) and every request to a
  host outside the source's ``allowed_domains`` (trackers and ad networks learn nothing of us);
- with ``ADWATCH_EVIDENCE`` on, collects for the archive what the rendered HTML is not: the main
  document as Chromium received it, the request it sent, and a PNG screenshot when the source
  asks (``browser.screenshot``), in ``request.meta`` for ``adwatch/evidence/capture.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import psutil
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Route
from playwright.async_api import Request as PlaywrightRequest
from playwright.async_api import Response as PlaywrightResponse
from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from adwatch.evidence.capture import BROWSER_CAPTURE, BrowserCapture
from config.source_kinds import BrowserOptions
from spiders.browser.assets import CACHED_TYPES, MAX_ASSET_BYTES, AssetCache, cache_seconds
from spiders.browser.chromium import ChromiumMissing, find_chromium, launch_options
from spiders.incremental import AD_ID

logger = logging.getLogger(__name__)
# scrapy-playwright logs each failed page with its traceback; the spider's errback already logs
# it in one line (source, reason, URL), so only its errors are let through.
logging.getLogger("scrapy-playwright").setLevel(logging.ERROR)

_MIB = 1024 * 1024
# The browser's memory is read every this many pages (a process-tree walk costs a few ms).
_MEMORY_EVERY = 10
# How long closing a page or the browser may take before it is given up on.
_CLOSE_WAIT = 10.0
# A page serves this many requests at most before it is closed (a fresh one bounds what a
# long-lived page accumulates: listeners, caches, detached nodes).
_PAGE_USES = 50
DEFAULT_CONTEXT = "default"
# A screenshot for the archive covers at most this many CSS pixels each way.
_SHOT_MAX_PX = 4096


class PageTimeout(Exception):
    """A browser page did not finish (load, scroll, clicks) within its deadline."""


class PageTooLarge(IgnoreRequest):
    """A rendered page larger than DOWNLOAD_MAXSIZE."""


class BudgetReached(IgnoreRequest):
    """The source's browser page budget for this crawl is spent (not a fault)."""


def _server_latency_for_autothrottle(request: Request) -> None:
    """AutoThrottle spaces requests by ``download_latency``, meant as the server's answer time. For
    a rendered page scrapy-playwright puts the whole render there (load, scroll, clicks: a second
    or more), which would slow a browser source down for our own work; the page methods
    (interact.py) measured the server's own time to first byte, and that is what it gets."""
    for method in request.meta.get("playwright_page_methods") or ():
        latency = getattr(method, "result", None)
        if isinstance(latency, float) and latency > 0:
            request.meta["download_latency"] = latency
            return


def _on_domain(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


class BrowserDownloadHandler(ScrapyPlaywrightDownloadHandler):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        src = getattr(crawler.spider, "src", None)
        opts = getattr(src, "browser", None)
        self.opts: BrowserOptions = opts if isinstance(opts, BrowserOptions) else BrowserOptions.model_validate({})
        self.allowed_domains: list[str] = list(getattr(src, "allowed_domains", []) or [])
        self.blocked_types = frozenset(self.opts.block)
        try:
            executable = find_chromium(crawler.settings.get("ADWATCH_CHROMIUM_PATH"))
        except ChromiumMissing:  # the spider closes the crawl with the reason before any page
            executable = "chromium"
        sandbox = crawler.settings.getbool("ADWATCH_BROWSER_SANDBOX")
        self.config.launch_options = launch_options(executable, self.allowed_domains, sandbox=sandbox)
        self.max_size = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        self.archive = crawler.settings.getbool("ADWATCH_EVIDENCE")
        self.screenshot_kinds = frozenset(self.opts.screenshot_kinds())
        self._documents: dict[int, PlaywrightResponse] = {}  # request id → its main document (for the archive)
        self._closed = False
        self.config.restart_disconnected_browser = True
        self.abort_request = self._should_abort
        self._gate = asyncio.Event()  # cleared while the browser restarts: new pages wait
        self._gate.set()
        self._open: dict[int, Page] = {}  # request id → its page, while it is being rendered
        self.assets = AssetCache()
        self._idle: dict[str, list[Page]] = {}  # context → pages ready for its next request
        self._uses: dict[int, int] = {}  # id of an idle page → requests it has served
        self._crashed: set[int] = set()  # ids of pages whose renderer crashed
        self._rendering = 0
        self._pages_since_launch = 0
        self._budget_used = 0
        self._restart_due: str | None = None
        self._peak_mib = 0.0
        if not sandbox:
            logger.warning("browser: Chromium runs without its sandbox (ADWATCH_BROWSER_SANDBOX off); "
                           "pages are untrusted: keep this for synthetic sites, or crawl as an unprivileged user")

    # One handler (one browser, one budget, one memory watch) for all of a crawler's schemes:
    # Scrapy builds a handler per scheme, and http and https would otherwise get a browser each.
    _per_crawler: weakref.WeakKeyDictionary[Crawler, BrowserDownloadHandler] = weakref.WeakKeyDictionary()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BrowserDownloadHandler:
        handler = cls._per_crawler.get(crawler)
        if handler is None:
            handler = cls._per_crawler[crawler] = cls(crawler)
        return handler

    async def close(self) -> None:
        if self._closed:  # the same handler serves http and https: closed once
            return
        self._closed = True
        await super().close()

    # -- what the browser may fetch ------------------------------------------------

    def _should_abort(self, request: PlaywrightRequest) -> bool:
        if request.resource_type in self.blocked_types:
            self.stats.inc_value("adwatch/browser/blocked")
            return True
        host = urlsplit(request.url).hostname or ""
        if request.url.startswith(("http:", "https:")) and self.allowed_domains \
                and not _on_domain(host, self.allowed_domains):
            self.stats.inc_value("adwatch/browser/offsite_blocked")
            return True
        return False

    # -- pages: a deadline, and closed on every path -----------------------------------

    async def _create_page(self, request: Request, spider: Spider) -> Page:
        page = await super()._create_page(request=request, spider=spider)
        self._open[id(request)] = page
        page.on("response", self._remember_asset)
        page.on("crash", lambda crashed: self._crashed.add(id(crashed)))
        page.on("popup", self._close_popup)
        return page

    async def _close_popup(self, popup: Page) -> None:
        # Chromium is started with --block-new-web-contents; a popup that still opens is closed.
        self.stats.inc_value("adwatch/browser/popup_closed")
        with suppress(PlaywrightError):
            await popup.close(run_before_unload=False)

    # -- the site's cacheable scripts and stylesheets, served from memory (assets.py) ---------

    async def _remember_asset(self, response: PlaywrightResponse) -> None:
        request = response.request
        if request.resource_type not in CACHED_TYPES or self.assets.get(request.url) is not None:
            return
        try:
            headers = await response.all_headers()
            length = headers.get("content-length", "")
            if not cache_seconds(headers.get("cache-control")) or (length.isdigit() and int(length) > MAX_ASSET_BYTES):
                return
            body = await response.body()
        except PlaywrightError:  # the page moved on or closed: the next page offers it again
            return
        if self.assets.offer(request.url, request.method, request.resource_type, response.status, headers, body):
            self.stats.inc_value("adwatch/browser/assets_cached")

    def _make_request_handler(self, *args: Any, **kwargs: Any) -> Any:
        routed = super()._make_request_handler(*args, **kwargs)

        async def handler(route: Route, request: PlaywrightRequest) -> None:
            if request.method == "GET" and request.resource_type in CACHED_TYPES:
                asset = self.assets.get(request.url)
                if asset is not None:
                    self.stats.inc_value("adwatch/browser/assets_from_cache")
                    with suppress(PlaywrightError):  # the page closed meanwhile
                        await route.fulfill(status=asset.status, headers=asset.headers, body=asset.body)
                    return
            await routed(route, request)

        return handler

    async def _download_request(self, request: Request, spider: Spider | None = None) -> Response:
        if self._budget_used >= self.opts.page_budget:
            raise BudgetReached(f"browser page budget ({self.opts.page_budget} pages) reached")
        self._budget_used += 1
        await self._gate.wait()
        context = request.meta.setdefault("playwright_context", DEFAULT_CONTEXT)
        # The page comes back to us (not to the spider): a good one serves the next request of its
        # context, which saves a renderer start per page; any other is closed here.
        request.meta["playwright_include_page"] = True
        idle = self._idle.get(context)
        if idle:
            request.meta["playwright_page"] = idle.pop()
        self._rendering += 1
        rendered = False
        try:
            response = await asyncio.wait_for(self._render_and_capture(request, spider),
                                              timeout=self.opts.page_seconds())
            if self.max_size and len(response.body) > self.max_size:
                # A DOM a script blew up: refused like any page above DOWNLOAD_MAXSIZE.
                self.stats.inc_value("adwatch/browser/page_too_large")
                request.meta.pop(BROWSER_CAPTURE, None)  # nothing of a refused page is archived
                raise PageTooLarge(f"the rendered page has {len(response.body)} bytes, "
                                   f"more than DOWNLOAD_MAXSIZE ({self.max_size})")
            rendered = True
            _server_latency_for_autothrottle(request)
            return response
        except TimeoutError:
            self.stats.inc_value("adwatch/browser/page_timeout")
            raise PageTimeout(f"the page took longer than {self.opts.page_timeout}") from None
        except PlaywrightError as exc:
            kind = "page_crashed" if "crash" in str(exc).lower() else "page_error"
            self.stats.inc_value(f"adwatch/browser/{kind}")
            raise
        finally:
            self._documents.pop(id(request), None)
            await self._put_back(request, context, keep=rendered)
            self._rendering -= 1
            self._pages_since_launch += 1
            self.stats.inc_value("adwatch/browser/pages")
            if self._rendering == 0:  # nothing renders now: every page is closed or idle
                self.stats.set_value("adwatch/browser/pages_left_open", self._pages_still_open() - self._idle_count())
            await self._after_page()

    # -- evidence: what the archive keeps of a rendered page --------------------------

    async def _get_response_and_download(self, request: Request, page: Page, spider: Spider) -> Any:
        document, download = await super()._get_response_and_download(request, page, spider)
        if self.archive and isinstance(document, PlaywrightResponse):
            self._documents[id(request)] = document
        return document, download

    async def _render_and_capture(self, request: Request, spider: Spider | None) -> Response:
        """The rendered page, and (archive on) the main document and screenshot in its meta, all
        within the page's deadline: the page is still open here, so its answer can be read."""
        response = await super()._download_request(request, spider)
        document = self._documents.pop(id(request), None)
        if self.archive and document is not None:
            capture = await self._capture(request, document)
            if capture is not None:
                request.meta[BROWSER_CAPTURE] = capture
        return response

    async def _capture(self, request: Request, document: PlaywrightResponse) -> BrowserCapture | None:
        try:
            # Chromium hands the body over decoded (no Content-Encoding): capture.py marks the record so.
            body = await document.body()
            headers = [(h["name"], h["value"]) for h in await document.headers_array()]
            sent = document.request
            sent_headers = [(h["name"], h["value"]) for h in await sent.headers_array()]
        except PlaywrightError:  # the page moved on: the rendered DOM is archived alone
            self.stats.inc_value("adwatch/evidence/browser_document_missing")
            return None
        capture = BrowserCapture(url=document.url, status=document.status, reason=document.status_text,
                                 headers=headers, body=body, method=sent.method, request_headers=sent_headers,
                                 request_body=sent.post_data_buffer or b"")
        kind = "detail" if AD_ID in request.meta else "listing"  # detail requests carry the ad's id
        page = request.meta.get("playwright_page")
        if kind in self.screenshot_kinds and isinstance(page, Page) and not page.is_closed():
            try:
                capture.screenshot = await self._screenshot(page)
                self.stats.inc_value("adwatch/browser/screenshots")
            except PlaywrightError:
                self.stats.inc_value("adwatch/browser/screenshot_failed")
        return capture

    async def _screenshot(self, page: Page) -> bytes:
        """The whole page as PNG, cut at _SHOT_MAX_PX each way: a hostile page can be endless, and
        a full-page PNG of it would cost seconds and megabytes (what was cut is in the rendered DOM)."""
        size = await page.evaluate("() => [document.documentElement.scrollWidth, "
                                   "document.documentElement.scrollHeight]")
        try:
            width, height = (max(1, min(int(v), _SHOT_MAX_PX)) for v in size)
        except (TypeError, ValueError):  # a page that redefined the DOM's properties: its viewport
            return await page.screenshot(type="png")
        return await page.screenshot(type="png", full_page=True,
                                     clip={"x": 0, "y": 0, "width": width, "height": height})

    async def _put_back(self, request: Request, context: str, keep: bool) -> None:
        """The request's page: kept for the next request after a clean render, else closed. The
        page never reaches the spider (the response is plain HTML)."""
        pages = {id(p): p for p in (request.meta.pop("playwright_page", None), self._open.pop(id(request), None))
                 if isinstance(p, Page)}
        request.meta.pop("playwright_include_page", None)
        for page in pages.values():
            if page.is_closed():
                continue
            uses = self._uses.pop(id(page), 0) + 1
            if keep and self._restart_due is None and uses < _PAGE_USES:
                self._uses[id(page)] = uses
                self._idle.setdefault(context, []).append(page)
                keep = False  # one page at most goes back
            else:
                await self._close_page(page)
                self._settle_crashed(page, context)

    def _settle_crashed(self, page: Page, context: str) -> None:
        """scrapy-playwright frees a page's slot in its context both when it crashes and when it
        is closed; a crashed page we close would free two. The second is taken back here."""
        if id(page) not in self._crashed:
            return
        self._crashed.discard(id(page))
        wrapper = self.context_wrappers.get(context)
        if wrapper is not None and not wrapper.semaphore.locked():
            wrapper.semaphore._value -= 1  # asyncio.Semaphore has no non-blocking acquire

    def _idle_count(self) -> int:
        return sum(len(pages) for pages in self._idle.values())

    async def _close_idle(self) -> None:
        idle = [page for pages in self._idle.values() for page in pages]
        self._idle.clear()
        self._uses.clear()
        for page in idle:
            if not page.is_closed():
                await self._close_page(page)

    async def _close_page(self, page: Page) -> None:
        try:
            await asyncio.wait_for(page.close(run_before_unload=False), timeout=_CLOSE_WAIT)
            self.stats.inc_value("playwright/page_count/closed")
        except (TimeoutError, PlaywrightError) as exc:
            # A page that cannot even be closed: the browser is not healthy, start a new one.
            logger.warning("browser: a page could not be closed (%s); restarting the browser", type(exc).__name__)
            self._restart_due = self._restart_due or "stuck_page"

    # -- restarts: after N pages, or past the memory limit -----------------------------

    async def _after_page(self) -> None:
        if self._restart_due is None:
            if self._pages_since_launch >= self.opts.restart_after_pages:
                self._restart_due = "page_count"
            elif self._pages_since_launch % _MEMORY_EVERY == 0:
                mib = self.browser_mib()
                if mib > self.opts.memory_limit_mb:
                    logger.info("browser: %.0f MiB, over the %d MiB limit: restarting it", mib,
                                self.opts.memory_limit_mb)
                    self._restart_due = "memory"
        if self._restart_due is not None:
            self._gate.clear()  # new pages wait until the browser is fresh
            if self._rendering == 0:
                await self._restart()

    async def _restart(self) -> None:
        reason, self._restart_due = self._restart_due, None
        try:
            self.stats.inc_value(f"adwatch/browser/restart_{reason}")
            await self._close_idle()
            with suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(asyncio.gather(*[w.context.close() for w in self.context_wrappers.values()],
                                                      return_exceptions=True), timeout=_CLOSE_WAIT)
            self.context_wrappers.clear()
            browser = getattr(self, "browser", None)
            if browser is not None:
                with suppress(PlaywrightError, TimeoutError):
                    await asyncio.wait_for(browser.close(), timeout=_CLOSE_WAIT)
                # The disconnected callback forgets it too; forgetting it here makes it certain.
                with suppress(AttributeError):
                    del self.browser
            self._pages_since_launch = 0
        finally:
            self._gate.set()

    # -- memory: the browser's process tree ------------------------------------------

    def _browser_processes(self) -> list[psutil.Process]:
        """The Playwright driver and everything under it (Chromium and its renderers)."""
        provider = getattr(self, "browser_provider", None)
        manager = getattr(provider, "playwright_context_manager", None)
        try:
            pid = manager._connection._transport._proc.pid  # type: ignore[union-attr]
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except (AttributeError, psutil.Error):
            return []

    def browser_mib(self) -> float:
        total = 0
        for proc in self._browser_processes():
            with suppress(psutil.Error):  # it may have ended in the meantime
                total += proc.memory_info().rss
        mib = total / _MIB
        if mib > self._peak_mib:
            self._peak_mib = mib
            self.stats.set_value("adwatch/browser/peak_mib", round(mib))
        return mib

    def crawl_mib(self) -> float:
        """This crawl's memory: its own process and the browser's tree."""
        own = psutil.Process(os.getpid()).memory_info().rss / _MIB
        return own + self.browser_mib()

    # -- the end -------------------------------------------------------------------

    def _pages_still_open(self) -> int:
        """Pages open in the browser, counted by the browser itself (not by our bookkeeping)."""
        browser = getattr(self, "browser", None)
        if browser is None:
            return 0
        try:
            return sum(len(context.pages) for context in browser.contexts)
        except PlaywrightError:
            return 0

    async def _close(self) -> None:
        await self._close_idle()
        left = self._pages_still_open()
        if left:  # every path closes its page; a page here is a defect worth hearing of
            logger.warning("browser: %d pages were still open at the end of the crawl", left)
        self.browser_mib()
        await super()._close()
