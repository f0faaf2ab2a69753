"""The social-media spider (``kind: feed``): a public channel's pages, or an RSS/Atom feed.

Each post is an ``Ad``, yielded straight from the page it is on (a post has no detail
page). A channel is walked from its newest page back through "load older" until one of:
the first post; posts older than the source's ``horizon``; ``max_pages``; or — when
``stop_at_known``, not ``--refresh``, and the previous crawl finished ``ok`` — a page whose
posts are all indexed already and older than ``recheck`` (newer ones are read again, since
posts get edited and deleted). The store is asked once per page.

Removed posts: every post id seen goes into the crawl's ``listed`` set (``spiders/adstates.py``);
after a complete walk the crawl-run recorder marks the source's stored ads that are not in it
as missing. A walk that stops before the first post — at known posts, the horizon or
``max_pages`` — (and every RSS/Atom read, which shows only the newest entries) covers a window:
the stored posts older than its oldest post are added to ``listed`` as well, so only a post
gone from inside the window can go missing. An older page without posts, or a "load older"
that leads back, leaves the walk incomplete (``listing_errors``): nothing is marked. A channel
that is gone or private fails the run with that reason.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response, TextResponse

from adwatch.core.clock import utcnow
from config.source_kinds import FeedOptions
from index import store_for_crawler
from index.query import SearchQuery
from index.store import AdState, StoreUnavailable
from spiders.adstates import AdStates, ad_states_for_crawler
from spiders.classifieds import SourceSpider
from spiders.ids import ad_id
from spiders.items import Ad
from spiders.pages.feed_posts import ChannelPage, FeedDocument, PostRecord, parse_when

logger = logging.getLogger(__name__)

FIRST_PAGE = "adwatch_feed_first"  # request.meta: the source's own start page (gone/private is told there)
GONE_STATUSES = (404, 410)
_STORE_PAGE = 1000  # stored ads read per query when the window is closed


class FeedSourceSpider(SourceSpider):
    """Subclassed once per ``kind: feed`` source file by ``spiders.loader``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.src.feed is None:  # the schema requires it for kind feed
            raise ValueError(f"source {self.src.name} has no feed: block")
        self.options: FeedOptions = self.src.feed
        self.pages = 0  # channel pages read this crawl
        self.yielded: set[str] = set()  # ad ids of posts this crawl passed on
        self.may_stop = False  # set in start(): the previous crawl finished ok, no --refresh
        self._known: set[str] = set()  # ids on the current page the store held before this crawl
        self.seen_pages: set[str] = set()  # channel pages read this crawl ("load older" must lead on)

    # -- the store: states, the previous run, the window --------------------------------------

    def _states(self) -> AdStates:
        return ad_states_for_crawler(self.crawler, store_for_crawler(self.crawler))

    def _previous_ok(self) -> bool:
        """Whether the last finished crawl of this source was ``ok`` (then known posts may stop the walk)."""
        assert self.crawler.stats is not None
        own = self.crawler.stats.get_value("adwatch/run_id")
        try:
            runs = store_for_crawler(self.crawler).runs(self.src.name, limit=3)
        except StoreUnavailable as exc:
            logger.error("%s: store unavailable at start (%s): walking the whole channel", self.src.name, exc)
            return False
        previous = [r for r in runs if r.get("id") != own and r.get("status") != "running"]
        return bool(previous) and previous[0].get("status") == "ok"

    def _fetch_states(self, ids: list[str]) -> dict[str, AdState] | None:
        try:
            return self._states().fetch(ids)
        except StoreUnavailable:
            self._stat("store_unavailable")
            return None

    def _list(self, ids: Iterator[str] | list[str] | set[str]) -> None:
        listed = self._states().listed
        if listed is not None:  # None: no incremental middleware, nothing is judged missing
            listed.update(ids)

    def _close_window(self, older_than: Any) -> None:
        """The stored posts outside this walk's window (``older_than(hit)``) are not missing."""
        if self._states().listed is None:
            return
        store = store_for_crawler(self.crawler)
        kept: list[str] = []
        offset = 0
        try:
            while True:
                result = store.search(SearchQuery(sources=[self.src.name], sort="newest", limit=_STORE_PAGE,
                                                  offset=offset, facets=False))
                kept.extend(str(hit["id"]) for hit in result.hits if older_than(hit))
                offset += len(result.hits)
                if not result.hits or offset >= result.total:
                    break
        except (StoreUnavailable, ValueError) as exc:
            # The window cannot be drawn: say the walk stopped early, so nothing is marked missing.
            logger.warning("%s: stored posts not read (%s): no post is marked removed this run", self.src.name, exc)
            self._stat("stopped_paging")
            return
        self._list(kept)

    # -- the walk -------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        self.may_stop = self.options.stop_at_known and not self.refresh and self._previous_ok()
        for url in self.src.start_urls:
            yield scrapy.Request(url, callback=self.parse_listing, errback=self.on_error, dont_filter=True,
                                 meta={FIRST_PAGE: True, "handle_httpstatus_list": list(GONE_STATUSES)})

    def parse_listing(self, response: Response) -> Iterator[Any]:
        if response.status in GONE_STATUSES:
            if response.meta.get(FIRST_PAGE):
                raise CloseSpider(f"channel_gone: {response.url} answers HTTP {response.status}")
            self._stat(f"http_{response.status}")
            self._stat("listing_errors")  # an older page vanished mid-walk: this walk is not complete
            return
        if self.options.format == "rss":
            yield from self._parse_feed(response)
        else:
            yield from self._parse_channel(response)

    def _parse_channel(self, response: Response) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            self._stat("not_text")
            self._stat("listing_errors")
            return
        page = ChannelPage(response.text, response.url)
        state = page.state()
        first = bool(response.meta.get(FIRST_PAGE))
        if state != "posts" and first:
            # The run fails with this reason (the crawl-run recorder stores a close reason as is).
            raise CloseSpider(f"channel_{state}: {response.url} shows no public posts")
        self._stat("listing_pages")
        self.pages += 1
        self.seen_pages.add(response.url)
        posts = self._read(page)
        if not posts:
            self._stat("empty_listing")
            if not first:
                # An older page without posts (a rate limit, a login wall, a glitch) is not the
                # channel's beginning: the walk is incomplete, and no post counts as removed.
                self._stat("listing_errors")
                logger.warning("%s: %s holds no posts; the walk stops here, incomplete", self.src.name, response.url)
                return
        now = utcnow()
        horizon = now - timedelta(seconds=self.options.horizon_seconds())
        recheck = now - timedelta(seconds=self.options.recheck_seconds())
        ids = [self._id(p) for p in posts]
        self._list(ids)  # shown on the channel, read or not
        within = [(p, i) for p, i in zip(posts, ids, strict=True) if not _older(p, horizon)]
        yield from self._ads(within)
        older = page.older_url()
        oldest = min((p.number for p in posts if p.number is not None), default=None)
        if older is None:
            return  # the first post: the walk is complete
        if older in self.seen_pages:  # "load older" leads back: the rest of the channel was never shown
            self._stat("listing_errors")
            logger.warning("%s: 'load older' on %s leads back to a page already read; the walk is incomplete",
                           self.src.name, response.url)
            return
        if len(within) < len(posts) or self.pages >= self.options.max_pages:
            why = "the horizon" if len(within) < len(posts) else f"max_pages ({self.options.max_pages})"
            logger.info("%s: stopped at %s on %s", self.src.name, why, response.url)
            self._stat("stopped_at_horizon" if len(within) < len(posts) else "stopped_at_max_pages")
            self._close_walk(posts, oldest)
            return
        if self.may_stop and posts and self._all_known_and_old(ids, posts, recheck):
            logger.info("%s: every post on %s is indexed; not walking further back", self.src.name, response.url)
            self._close_walk(posts, oldest)
            return
        yield scrapy.Request(older, callback=self.parse_listing, errback=self.on_error)

    def _close_walk(self, posts: list[PostRecord], oldest: int | None) -> None:
        """A walk that stops before the first post covers a window, from the newest post to
        ``oldest``: the stored posts below it were not looked at, so they are listed as present
        and only a post gone from inside the window can be marked missing."""
        if oldest is None:  # no numbered post to draw the window by: nothing is judged missing
            self._stat("stopped_paging")
            return
        channel = next(p.site_id for p in posts if p.number == oldest).partition("/")[0]
        self._close_window(lambda hit: _older_number(hit, f"{self.src.name}:{channel}/", oldest))

    def _read(self, page: ChannelPage) -> list[PostRecord]:
        posts: list[PostRecord] = []
        for message in page.messages():
            try:
                posts.append(page.post(message))
            except Exception as exc:  # one broken post is counted and skipped, never the page
                self._stat("parse_error")
                logger.error("%s: cannot read a post on %s: %s", self.src.name, page.url,
                             " ".join(str(exc).split())[:200])
        return sorted(posts, key=lambda p: p.number or 0, reverse=True)  # newest first, whatever the page order

    def _all_known_and_old(self, ids: list[str], posts: list[PostRecord], recheck: datetime) -> bool:
        # Asked before this page's ads were stored (dedupe took their states from _ads): the
        # store's answer for an id this crawl passed on says nothing about an earlier crawl.
        known = self._known
        if any(i not in known for i in ids):
            return False
        return all(_older(p, recheck) for p in posts)

    def _ads(self, posts: list[tuple[PostRecord, str]]) -> Iterator[Ad]:
        """The page's posts as Ads; the store asked once for the whole page (dedupe reuses it)."""
        fresh = [i for _, i in posts if i not in self.yielded]
        stored = self._fetch_states(fresh)
        self._known = set(stored or ()) - self.yielded
        states = self._states()
        fetched_at = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        for post, post_id in posts:
            if post_id in self.yielded:
                continue
            self.yielded.add(post_id)
            if stored is not None:
                states.remember(post_id, stored.get(post_id))
            self._stat("posts")
            yield self._ad(post, post_id, fetched_at)

    def _id(self, post: PostRecord) -> str:
        if post.site_id:
            return f"{self.src.name}:{post.site_id}"
        return ad_id(self.src.name, post.url, None)

    def _ad(self, post: PostRecord, post_id: str, fetched_at: str) -> Ad:
        if self.default_region is None:
            raise RuntimeError("the spider was not made by from_crawler: ADWATCH_DEFAULT_REGION unknown")
        return Ad(id=post_id, source=self.src.name, url=post.url, site_id=post.site_id or None,
                  fetched_at=fetched_at, region=self.src.region or self.default_region, timezone=self.src.timezone,
                  title=post.title, text=post.text, posted_at=post.posted_at, poster=post.poster,
                  images=post.images)

    # -- RSS and Atom ----------------------------------------------------------------------------

    def _parse_feed(self, response: Response) -> Iterator[Any]:
        document = FeedDocument(response.body, response.url)
        if not document.is_feed():
            self._stat("listing_errors")
            logger.error("%s: %s is not an RSS or Atom feed (%s)", self.src.name, response.url,
                         document.problem or "no entries")
            return
        if document.broken:
            self._stat("feed_malformed")
            logger.warning("%s: malformed feed %s, read leniently: %s", self.src.name, response.url,
                           " ".join(document.problem.split()))
        self._stat("listing_pages")
        self.pages += 1
        posts: list[PostRecord] = []
        for entry in document.entries():
            try:
                post = document.post(entry, self.src.ad_id_pattern)
            except Exception as exc:  # one broken entry is counted and skipped
                post = None
                logger.error("%s: cannot read a feed entry on %s: %s", self.src.name, response.url,
                             " ".join(str(exc).split())[:200])
            if post is None:
                self._stat("parse_error")
                continue
            posts.append(post)
        if not posts:
            self._stat("empty_listing")
        horizon = utcnow() - timedelta(seconds=self.options.horizon_seconds())
        ids = [self._id(p) for p in posts]
        self._list(ids)
        yield from self._ads([(p, i) for p, i in zip(posts, ids, strict=True) if not _older(p, horizon)])
        # A feed shows only its newest entries: stored posts older than its oldest are not missing.
        dates = [d for d in (parse_when(p.posted_at) for p in posts) if d is not None]
        newest_first = all(a >= b for a, b in zip(dates, dates[1:], strict=False))
        if dates and len(dates) == len(posts) and newest_first:
            oldest = dates[-1]
            self._close_window(lambda hit: (parse_when(hit.get("posted_at")) or oldest) < oldest
                               or hit.get("posted_at") is None)
        else:
            # Undated entries, or not newest first (a pinned old entry): the window the feed covers
            # cannot be drawn from its dates, so nothing is judged missing this time.
            self._stat("stopped_paging")


def _older(post: PostRecord, cutoff: datetime) -> bool:
    """Posted before ``cutoff`` (an undated post is taken as new: it is read, never a reason to stop)."""
    when = parse_when(post.posted_at)
    return when is not None and when < cutoff


def _older_number(hit: dict[str, Any], prefix: str, oldest: int) -> bool:
    """A stored post of this channel below the walk's oldest post id; an id of another channel or
    shape is outside the window too (left alone: not judged missing)."""
    ad_id = str(hit.get("id", ""))
    tail = ad_id.removeprefix(prefix)
    return not ad_id.startswith(prefix) or not tail.isdigit() or int(tail) < oldest
