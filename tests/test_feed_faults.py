"""Feed sources under faults: a channel or feed that misbehaves never makes posts look removed.

A tiny channel served on loopback, page by page as the test says: a post with a date that
overflows, an older page that holds no posts (a rate limit), "load older" leading back, a
post deleted while the crawl stops at known posts, and an RSS feed with a pinned old entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from index.sqlite import SqliteStore
from tests.conftest import listing_route, loopback_site, run_adwatch

pytestmark = pytest.mark.slow
DAY = timedelta(days=1)


def _post(number: int, when: str) -> str:
    return (f'<div class="tgme_widget_message" data-post="c/{number}">'
            f'<div class="tgme_widget_message_text">Post {number}: ring 070-174 06 {10 + number}</div>'
            f'<a class="tgme_widget_message_date" href="/s/c/{number}"><time datetime="{when}">x</time></a></div>')


def _page(posts: list[tuple[int, str]], older: str | None) -> tuple[int, str, bytes]:
    more = f'<a class="tme_messages_more" href="{older}">older</a>' if older else ""
    body = ('<html><body><section class="tgme_channel_history">'
            + "".join(_post(n, w) for n, w in posts) + more + "</section></body></html>")
    return 200, "text/html; charset=utf-8", body.encode()


def _ago(days: int) -> str:
    return (datetime.now(UTC) - days * DAY).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _crawl(home: Path, base: str, *extra: str, feed: str = "channel", start: str = "/s/c") -> dict[str, Any]:
    sources = home / "sources"
    sources.mkdir(exist_ok=True)
    (sources / "chan.yaml").write_text(
        f"name: chan\nkind: feed\nstart_urls: ['{base}{start}']\nregion: SE\n"
        + ("ad_id_pattern: '/s/([a-z]+/\\\\d+)'\n" if feed == "rss" else "")
        + f"feed: {{format: {feed}, horizon: 30d, recheck: 3d}}\npoliteness: {{delay: 0, concurrency: 1}}\n")
    result = run_adwatch("crawl", "chan", "--json", *extra, "-s", "ADWATCH_REMOVED_AFTER=1", home=home,
                         env={"ADWATCH_SOURCES_DIR": str(sources)})
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    run: dict[str, Any] = json.loads(result.stdout)[0]
    return run


def _removed(home: Path) -> set[str]:
    store = SqliteStore(home / "adwatch.db")
    try:
        return {row[0] for row in store.db.execute("SELECT id FROM ads WHERE removed_at IS NOT NULL")}
    finally:
        store.close()


def _served(pages: dict[str, tuple[int, str, bytes]]) -> Callable[[str], tuple[int, str, bytes]]:
    return listing_route(pages)


def test_a_post_whose_date_overflows_costs_nothing_and_the_walk_goes_on(home: Path) -> None:
    pages = {"/s/c": _page([(3, "0001-01-01T00:00:00+05:00"), (2, _ago(10))], "/s/c?before=2"),
             "/s/c?before=2": _page([(1, "9999-12-31T23:59:59-05:00")], None)}
    with loopback_site(_served(pages)) as base:
        run = _crawl(home, base)
    assert (run["status"], run["new_ads"]) == ("ok", 3)


def test_an_older_page_without_posts_leaves_the_walk_incomplete(home: Path) -> None:
    pages = {"/s/c": _page([(3, _ago(10)), (2, _ago(11))], "/s/c?before=2"),
             "/s/c?before=2": _page([(1, _ago(12))], None)}
    with loopback_site(_served(pages)) as base:
        assert _crawl(home, base)["new_ads"] == 3
        pages["/s/c?before=2"] = (200, "text/html", b"<html><body><h1>Slow down</h1></body></html>")
        run = _crawl(home, base, "--refresh")
    assert run["status"] == "partial" and run["removed_ads"] == 0
    assert _removed(home) == set()


def test_load_older_that_leads_back_leaves_the_walk_incomplete(home: Path) -> None:
    pages = {"/s/c": _page([(3, _ago(10)), (2, _ago(11))], "/s/c?before=2"),
             "/s/c?before=2": _page([(1, _ago(12))], None)}
    with loopback_site(_served(pages)) as base:
        _crawl(home, base)
        pages["/s/c?before=2"] = _page([(2, _ago(11))], "/s/c?before=2")  # a loop
        run = _crawl(home, base, "--refresh")
    assert run["status"] == "partial" and run["removed_ads"] == 0 and _removed(home) == set()


def test_a_post_deleted_inside_the_walked_window_is_removed_without_refresh(home: Path) -> None:
    """The everyday crawl stops at known posts; a post gone from the pages it read is removed,
    the older posts it did not read are not."""
    pages = {"/s/c": _page([(6, _ago(10)), (5, _ago(11)), (4, _ago(12))], "/s/c?before=4"),
             "/s/c?before=4": _page([(3, _ago(13)), (2, _ago(14)), (1, _ago(15))], None)}
    with loopback_site(_served(pages)) as base:
        _crawl(home, base)
        pages["/s/c"] = _page([(6, _ago(10)), (4, _ago(12))], "/s/c?before=4")  # post 5 deleted
        run = _crawl(home, base)
    assert run["stats"]["adwatch/spider/listing_pages"] == 1  # stopped at the known page
    assert (run["status"], run["removed_ads"]) == ("ok", 1)
    assert _removed(home) == {"chan:c/5"}


def _rss(entries: list[tuple[int, str]]) -> tuple[int, str, bytes]:
    items = "".join(f"<item><title>Post {n}</title><link>http://x/s/c/{n}</link><guid>c/{n}</guid>"
                    f"<pubDate>{when}</pubDate><description>ring 070-174 06 {10 + n}</description></item>"
                    for n, when in entries)
    return 200, "application/rss+xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>c</title>{items}' \
        "</channel></rss>".encode()


def _rfc822(days: int) -> str:
    return (datetime.now(UTC) - days * DAY).strftime("%a, %d %b %Y %H:%M:%S +0000")


def test_a_pinned_old_entry_does_not_make_posts_that_left_the_feed_look_removed(home: Path) -> None:
    pinned = (1, "Wed, 01 Jan 2020 00:00:00 +0000")
    pages = {"/rss.xml": _rss([pinned, (4, _rfc822(1)), (3, _rfc822(2)), (2, _rfc822(3))])}
    with loopback_site(_served(pages)) as base:
        assert _crawl(home, base, feed="rss", start="/rss.xml")["new_ads"] == 3  # the 2020 entry: past the horizon
        pages["/rss.xml"] = _rss([pinned, (5, _rfc822(0)), (4, _rfc822(1)), (3, _rfc822(2))])  # 2 left the feed
        run = _crawl(home, base, feed="rss", start="/rss.xml")
    assert run["new_ads"] == 1 and run["removed_ads"] == 0 and _removed(home) == set()


def test_html_inside_a_post_is_read_in_linear_time_however_deep() -> None:
    """A post or feed entry nested 20,000 deep (the parser is quadratic on such nesting) is
    flattened first: its text is read, and line breaks of <br> and blocks are kept."""
    from spiders.pages.feed_posts import html_fragment_text

    deep = "<div>" * 20_000 + "Ring 070-174 06 12" + "</div>" * 20_000
    assert html_fragment_text(deep, "http://x/")[0] == "Ring 070-174 06 12"
    text, links = html_fragment_text("<p>a<br>b</p><p>c<div>d</div><li>e <a href='/s/1'>l</a>", "http://x/")
    assert text.split() == ["a", "b", "c", "d", "e", "l"] and "a\nb" in text and links == ["http://x/s/1"]
