"""Incremental crawling against a site that changes between crawls (new ads, a failing page)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from index.sqlite import SqliteStore
from tests.conftest import loopback_site, run_adwatch

PER_PAGE = 5
SOURCE = """
name: growing
start_urls: ["{base}/list"]
ad_id_pattern: "/ad/(\\\\d+)"
listing:
  ad_links: "a.ad::attr(href)"
  next_page: "a.next::attr(href)"
fields:
  title: "h1"
  text: "div.body"
politeness: {{delay: 0, concurrency: 2}}
"""


class Site:
    def __init__(self) -> None:
        self.ads: list[int] = []  # newest first
        self.failing_pages: set[int] = set()
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()

    def add(self, count: int) -> list[int]:
        with self.lock:
            start = max(self.ads, default=100) + 1
            new = list(range(start, start + count))
            self.ads = list(reversed(new)) + self.ads
            return new

    def page(self, path: str) -> tuple[int, str]:
        url = urlsplit(path)
        with self.lock:
            self.hits[url.path if url.path.startswith("/ad/") else path] += 1
            if url.path == "/list":
                number = int(parse_qs(url.query).get("page", ["1"])[0])
                if number in self.failing_pages:
                    return 500, "down"
                chunk = self.ads[(number - 1) * PER_PAGE : number * PER_PAGE]
                links = "".join(f"<a class=ad href='/ad/{i}'>{i}</a>" for i in chunk)
                more = len(self.ads) > number * PER_PAGE
                return 200, links + (f"<a class=next href='/list?page={number + 1}'>next</a>" if more else "")
            if url.path.startswith("/ad/"):
                n = int(url.path.rsplit("/", 1)[1])
                return 200, f"<h1>Ad {n}</h1><div class=body>Ring 070-174 06 {n % 90 + 10:02d}</div>"
            if url.path == "/robots.txt":
                return 200, "User-agent: *\nDisallow:\n"
        return 404, "no"


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    state = Site()

    def route(path: str) -> tuple[int, str, bytes]:
        status, body = state.page(path)
        return status, "text/html; charset=utf-8", f"<html><body>{body}</body></html>".encode()

    with loopback_site(route) as base:
        yield state, base


def crawl(home: Path, sources: Path) -> dict[str, object]:
    result = run_adwatch("crawl", "growing", "-s", "RETRY_TIMES=0", "--json", home=home,
                         env={"ADWATCH_SOURCES_DIR": str(sources)})
    (run,) = json.loads(result.stdout)
    assert result.returncode == (0 if run["status"] == "ok" else 1), result.stderr
    return dict(run)


@pytest.fixture
def sources(tmp_path: Path, site: tuple[Site, str]) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "growing.yaml").write_text(SOURCE.format(base=site[1]), encoding="utf-8")
    return folder


def indexed(home: Path) -> set[str]:
    store = SqliteStore(home / "adwatch.db")
    ids = {row[0] for row in store.db.execute("SELECT id FROM ads")}
    store.close()
    return ids


def test_new_ads_are_fetched_and_paging_stops_at_known_ones(site: tuple[Site, str], sources: Path,
                                                            home: Path) -> None:
    state, _ = site
    first = state.add(23)
    assert crawl(home, sources)["status"] == "ok"
    assert indexed(home) == {f"growing:{i}" for i in first}
    fresh = state.add(7)  # page 1 and two ads of page 2 are new now
    state.hits.clear()
    run = crawl(home, sources)
    assert (run["status"], run["new_ads"]) == ("ok", 7)
    assert indexed(home) == {f"growing:{i}" for i in first + fresh}
    assert sorted(int(p.rsplit("/", 1)[1]) for p in state.hits if p.startswith("/ad/")) == sorted(fresh)
    # Page 2 mixes new and known ads, page 3 is all known: paging stops there, page 4 is never read.
    assert state.hits["/list?page=3"] == 1 and state.hits["/list?page=4"] == 0


def test_a_lost_listing_page_makes_the_run_partial_and_the_next_one_complete(site: tuple[Site, str],
                                                                            sources: Path, home: Path) -> None:
    state, _ = site
    ads = state.add(18)
    state.failing_pages = {2}
    run = crawl(home, sources)
    assert run["status"] == "partial" and "1 listing pages lost" in str(run["reason"])
    assert indexed(home) == {f"growing:{i}" for i in ads[-PER_PAGE:]}  # page 1: the newest
    state.failing_pages = set()
    # The previous run was not ok, so this one reads every page even though page 1 is all known.
    run = crawl(home, sources)
    assert run["status"] == "ok"
    assert indexed(home) == {f"growing:{i}" for i in ads}
    assert run_adwatch("runs", home=home, check=True).stdout.count("partial") == 1


def _listing_spider(tmp_path: Path) -> object:
    from scrapy.statscollectors import MemoryStatsCollector
    from scrapy.utils.test import get_crawler

    from config.source_schema import parse_source
    from spiders.loader import source_spider_class

    path = tmp_path / "growing.yaml"
    path.write_text(SOURCE.format(base="http://127.0.0.1:1"), encoding="utf-8")
    source, _ = parse_source(path)
    assert source is not None
    cls = source_spider_class(source)
    crawler = get_crawler(cls)
    spider = cls()
    spider.crawler = crawler
    crawler.stats = MemoryStatsCollector(crawler)
    return spider


def test_a_page_of_ads_this_run_fetched_does_not_stop_paging(tmp_path: Path) -> None:
    from scrapy import Request
    from scrapy.http import HtmlResponse

    from spiders.adstates import AdStates
    from spiders.incremental import IncrementalMiddleware
    from tests.test_incremental_middleware import StoreHolding, through

    spider: object = _listing_spider(tmp_path)
    body = b"<a class=ad href='/ad/1'>1</a><a class=ad href='/ad/2'>2</a><a class=next href='/list?page=3'>n</a>"
    page = HtmlResponse("http://127.0.0.1:1/list?page=2", body=body)
    store_has = {"growing:1", "growing:2"}
    middleware = IncrementalMiddleware(AdStates(StoreHolding(store_has)), spider.crawler.stats,  # type: ignore[attr-defined]
                                       "growing", skip_known=True, may_stop_paging=True)  # the previous run was ok
    # Known from an earlier crawl: paging stops.
    out = through(middleware, page, spider.parse_listing(page))  # type: ignore[attr-defined]
    assert not any(isinstance(o, Request) and "page=3" in o.url for o in out)
    # Stored during this very crawl (asked for on another listing): paging goes on.
    middleware.requested = set(store_has)
    out = through(middleware, page, spider.parse_listing(page))  # type: ignore[attr-defined]
    assert any(isinstance(o, Request) and "page=3" in o.url for o in out)
