"""The per-kind blocks of a source file: ``browser:`` (kind ``browser``) and ``feed:`` (kind ``feed``).

Kind ``html`` needs neither: Scrapy fetches the pages and the selectors read them. Kind
``browser`` renders the pages it names in headless Chromium first (scrapy-playwright), so
what JavaScript builds — listings loaded with ``fetch()``, numbers shown after a click — is
in the HTML the selectors read. Kind ``feed`` reads posts from a public channel's pages or
an RSS/Atom feed; each post is an ad.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from adwatch.core.durations import parse_duration

# Playwright's resource types that a source may block (the page's own HTML, scripts and
# XHR/fetch are never blocked: without them nothing renders).
BLOCKABLE = ("image", "font", "media", "stylesheet", "texttrack", "manifest", "other")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_css(value: str) -> str:
    # Imported here: source_schema imports this module.
    from config.source_schema import check_selector

    expr = check_selector(value)
    if expr.startswith("xpath:"):
        raise ValueError("the browser waits and clicks with CSS selectors; write CSS here")
    return expr.removeprefix("css:")


class BrowserOptions(_Strict):
    render: list[Literal["listing", "detail"]] = Field(
        default_factory=lambda: ["listing", "detail"],  # type: ignore[arg-type]
        description="which pages need the browser; the others are plain Scrapy requests")
    wait_for: str | None = Field(None, description="listing pages: CSS selector that must appear")
    detail_wait_for: str | None = Field(None, description="detail pages: CSS selector that must appear")
    scroll: int = Field(0, ge=0, le=1000, description="listing pages: scroll to the bottom up to this many times")
    load_more: str | None = Field(None, description="listing pages: a 'load more' button to press")
    max_loads: int = Field(50, ge=0, le=1000, description="presses of load_more at most")
    listing_end: str | None = Field(None, description="listing pages: CSS selector shown once every ad is loaded; "
                                    "without it a listing counts as complete when nothing more loads")
    settle_ms: int = Field(400, ge=0, le=30_000,
                           description="a scroll or press that changes nothing for this long was the last")
    reveal: list[str] = Field(default_factory=list,
                              description="detail pages: buttons to click ('show number'); each is clicked once")
    reveal_wait: str | None = Field(None, description="detail pages: CSS selector that appears after the clicks")
    block: list[Literal[BLOCKABLE]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["image", "font", "media"],
        description="resource types the browser does not fetch")
    page_budget: int = Field(5000, ge=1, le=1_000_000, description="browser pages per crawl at most")
    navigation_timeout: str = Field("20s", description="how long a page may take to load")
    page_timeout: str = Field("60s", description="how long a page may take in all: load, scroll, clicks")
    contexts: int = Field(1, ge=1, le=16, description="browser contexts (separate cookie jars)")
    pages_per_context: int = Field(4, ge=1, le=64, description="pages open at once in one context")
    restart_after_pages: int = Field(500, ge=1, le=1_000_000,
                                     description="restart the browser after this many pages")
    memory_limit_mb: int = Field(1024, ge=64, le=262_144,
                                 description="restart the browser when it uses more than this")
    retries: int = Field(2, ge=0, le=10, description="tries again for a page that failed (crash, timeout)")
    screenshot: StrictBool | list[Literal["listing", "detail"]] = Field(
        False, description="archive a PNG screenshot of each rendered page (true), or of these page kinds only")

    @field_validator("screenshot")
    @classmethod
    def _screenshot(cls, value: bool | list[str]) -> bool | list[str]:
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("names a page kind twice")
        return value

    @model_validator(mode="after")
    def _screenshot_rendered(self) -> BrowserOptions:
        unrendered = [kind for kind in self.screenshot_kinds() if kind not in self.render]
        if isinstance(self.screenshot, list) and unrendered:
            raise ValueError(f"screenshot: {', '.join(unrendered)} pages are not rendered (add them to render)")
        return self

    def screenshot_kinds(self) -> tuple[str, ...]:
        """The page kinds whose rendering is archived with a screenshot (only rendered kinds have one)."""
        if self.screenshot is True:
            return tuple(self.render)
        return tuple(self.screenshot) if isinstance(self.screenshot, list) else ()

    @field_validator("wait_for", "detail_wait_for", "load_more", "reveal_wait", "listing_end")
    @classmethod
    def _css(cls, value: str | None) -> str | None:
        return value if value is None else _check_css(value)

    @field_validator("reveal")
    @classmethod
    def _reveal(cls, value: list[str]) -> list[str]:
        return [_check_css(v) for v in value]

    @field_validator("navigation_timeout", "page_timeout")
    @classmethod
    def _duration(cls, value: str) -> str:
        seconds = parse_duration(value).total_seconds()
        if not 1 <= seconds <= 600:
            raise ValueError("must be between 1s and 10min")
        return value

    def navigation_seconds(self) -> float:
        return parse_duration(self.navigation_timeout).total_seconds()

    def page_seconds(self) -> float:
        return parse_duration(self.page_timeout).total_seconds()


class FeedOptions(_Strict):
    format: Literal["channel", "rss"] = Field(
        description="channel: a public channel's web preview with 'load older' pages; rss: RSS or Atom")
    horizon: str = Field("30d", description="posts older than this are not read")
    stop_at_known: bool = Field(True, description="stop walking back at a page of posts already indexed")
    recheck: str = Field("3d", description="posts this recent are read again (edits, deletions) even if known")
    max_pages: int = Field(500, ge=1, le=100_000, description="channel pages per crawl at most")

    @field_validator("horizon", "recheck")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # raises ValueError with the reason
        return value

    def horizon_seconds(self) -> float:
        return parse_duration(self.horizon).total_seconds()

    def recheck_seconds(self) -> float:
        return parse_duration(self.recheck).total_seconds()
