"""The spider of browser sources: the classifieds spider, with the pages it names rendered.

It follows exactly what ``SourceSpider`` follows (listing pages, ad pages, pagination) and
builds Ads with the same page objects from the rendered HTML. What changes is the request:
a page kind named in ``browser.render`` carries scrapy-playwright's meta (and the page
methods of ``interact.py``), so ``handler.py`` renders it in Chromium; the rest stay plain
Scrapy requests. Known ads are dropped by the incremental middleware before any browser
page opens for them.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.settings.default_settings import RETRY_EXCEPTIONS
from twisted.python.failure import Failure

from config.source_kinds import BrowserOptions
from spiders.browser.chromium import ChromiumMissing, find_chromium, running_as_root
from spiders.browser.handler import BudgetReached
from spiders.browser.interact import detail_methods, listing_methods
from spiders.classifieds import SourceSpider

logger = logging.getLogger(__name__)

HANDLER = "spiders.browser.handler.BrowserDownloadHandler"


class BrowserSourceSpider(SourceSpider):
    @classmethod
    def politeness_settings(cls) -> dict[str, Any]:
        settings = super().politeness_settings()
        opts = cls.source.browser
        assert opts is not None  # the schema gives every browser source its options
        pages_at_once = opts.contexts * opts.pages_per_context
        settings.update({
            # Only this crawler's downloads go through the browser handler, and of those only
            # the requests marked "playwright" are rendered.
            "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
            "PLAYWRIGHT_BROWSER_TYPE": "chromium",
            "PLAYWRIGHT_MAX_CONTEXTS": opts.contexts,
            "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": opts.pages_per_context,
            "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": opts.navigation_seconds() * 1000,
            "CONCURRENT_REQUESTS_PER_DOMAIN": min(cls.source.politeness.concurrency, pages_at_once),
            # A crashed or timed-out page is tried again like a dropped connection.
            "RETRY_EXCEPTIONS": [*RETRY_EXCEPTIONS, "playwright.async_api.Error",
                                 "spiders.browser.handler.PageTimeout"],
            "RETRY_TIMES": opts.retries,
        })
        return settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = self.src.browser
        assert opts is not None
        self.opts: BrowserOptions = opts
        self._contexts = itertools.cycle([f"adwatch{n}" for n in range(opts.contexts)])
        self._budget_logged = False

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> BrowserSourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, BrowserSourceSpider)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        try:
            find_chromium(self.settings.get("ADWATCH_CHROMIUM_PATH"))
        except ChromiumMissing as exc:
            logger.error("%s: %s", self.src.name, exc)
            raise CloseSpider(f"browser_missing: {exc}") from None
        if running_as_root() and self.settings.getbool("ADWATCH_BROWSER_SANDBOX"):
            reason = ("running as root, where Chromium cannot use its sandbox: crawl as an unprivileged user, "
                      "or set ADWATCH_BROWSER_SANDBOX=off to accept untrusted pages in an unsandboxed browser")
            logger.error("%s: %s", self.src.name, reason)
            raise CloseSpider(f"browser_sandbox: {reason}")
        async for request in super().start():
            yield request

    def _render(self, kind: str, meta: dict[str, Any]) -> dict[str, Any]:
        """The meta that sends a request of this page kind through the browser."""
        if kind not in self.opts.render:
            return meta
        stats = self.crawler.stats
        methods = listing_methods(self.opts, stats) if kind == "listing" else detail_methods(self.opts, stats)
        return {**meta, "playwright": True, "playwright_context": next(self._contexts),
                "playwright_page_methods": methods}

    def on_error(self, failure: Failure) -> None:
        if failure.check(BudgetReached):
            # Not a fault: the crawl stops here on purpose, and the walk is not complete, so
            # nothing counts as removed. The rest waits for the next crawl.
            if not self._budget_logged:
                self._budget_logged = True
                logger.warning("%s: %s; the rest waits for the next crawl", self.src.name, failure.value)
            self._stat("stopped_paging")
            self._stat("browser_budget_skipped")
            return
        super().on_error(failure)

    def listing_meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        return self._render("listing", meta)

    def detail_meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        return self._render("detail", meta)
