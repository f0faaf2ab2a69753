"""The incremental spider middleware: known ads dropped, paging stopped, one store look-up per page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.http import HtmlResponse
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from index.sqlite import SqliteStore
from index.store import AdState, StoreUnavailable
from pipelines.dedupe import DedupePipeline
from pipelines.normalize import NormalizePipeline
from spiders.adstates import AdStates
from spiders.incremental import AD_ID, NEXT_PAGE, IncrementalMiddleware
from spiders.items import Ad, AdSighting

LISTING = HtmlResponse("http://127.0.0.1:1/list?page=2", body=b"<html></html>")


class StoreHolding:
    """A store that holds ``ids`` (or is down), counting its look-ups."""

    def __init__(self, ids: Iterable[str], down: bool = False) -> None:
        self.ids = set(ids)
        self.down = down
        self.lookups = 0

    def ad_states(self, ids: Iterable[str]) -> dict[str, AdState]:
        self.lookups += 1
        if self.down:
            raise StoreUnavailable("down")
        return {i: AdState("hash", 1, "2026-11-01T00:00:00Z") for i in ids if i in self.ids}


class Counting:
    """A real store whose ``ad_states`` calls are counted."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.lookups = 0

    def ad_states(self, ids: Iterable[str]) -> dict[str, AdState]:
        self.lookups += 1
        return self.store.ad_states(ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def through(middleware: IncrementalMiddleware, response: HtmlResponse, output: Iterable[Any]) -> list[Any]:
    async def source() -> AsyncIterator[Any]:
        for item in output:
            yield item

    async def collect() -> list[Any]:
        return [out async for out in middleware.process_spider_output_async(response, source())]

    return asyncio.run(collect())


def listing(ids: list[int], next_page: bool = True) -> list[Any]:
    """What the source spider yields for a listing page: detail requests, a followed listing, the next page."""
    out: list[Any] = [Request(f"http://127.0.0.1:1/ad/{i}", meta={AD_ID: f"demo:{i}"}) for i in ids]
    out.append(Request("http://127.0.0.1:1/list?town=x"))
    if next_page:
        out.append(Request("http://127.0.0.1:1/list?page=3", meta={NEXT_PAGE: True}))
    return out


def middleware(store: Any, stats: MemoryStatsCollector, skip_known: bool = True,
               may_stop_paging: bool = True) -> IncrementalMiddleware:
    return IncrementalMiddleware(AdStates(store), stats, "demo", skip_known=skip_known,
                                 may_stop_paging=may_stop_paging)


@pytest.fixture
def stats() -> MemoryStatsCollector:
    return MemoryStatsCollector(get_crawler(Spider))


def urls(out: list[Any]) -> list[str]:
    return [o.url.rsplit("/", 1)[1] for o in out if isinstance(o, Request)]


def test_known_ads_are_dropped_and_sighted(stats: MemoryStatsCollector) -> None:
    store = StoreHolding({"demo:1", "demo:3"})
    out = through(middleware(store, stats), LISTING, listing([1, 2, 3, 4]))
    assert urls(out) == ["2", "4", "list?town=x", "list?page=3"]
    (sighting,) = [o for o in out if isinstance(o, AdSighting)]
    assert (sighting.ids, sighting.source) == (["demo:1", "demo:3"], "demo")
    assert stats.get_value("adwatch/spider/known_ads") == 2 and not stats.get_value("adwatch/spider/stopped_paging")
    assert store.lookups == 1


def test_a_page_of_known_ads_stops_paging_only_after_a_clean_run(stats: MemoryStatsCollector) -> None:
    store = StoreHolding({"demo:1", "demo:2"})
    out = through(middleware(store, stats), LISTING, listing([1, 2]))
    assert urls(out) == ["list?town=x"]  # other listings are still followed
    assert stats.get_value("adwatch/spider/stopped_paging") == 1
    resumed = through(middleware(store, stats, may_stop_paging=False), LISTING, listing([1, 2]))
    assert urls(resumed) == ["list?town=x", "list?page=3"]


def test_refresh_fetches_every_ad_but_still_looks_up_once(stats: MemoryStatsCollector) -> None:
    store = StoreHolding({"demo:1", "demo:2"})
    mw = middleware(store, stats, skip_known=False, may_stop_paging=False)
    out = through(mw, LISTING, listing([1, 2]))
    assert urls(out) == ["1", "2", "list?town=x", "list?page=3"]
    assert not any(isinstance(o, AdSighting) for o in out)
    assert mw.states.take("demo:1") == (True, AdState("hash", 1, "2026-11-01T00:00:00Z"))
    assert store.lookups == 1


def test_an_unavailable_store_means_crawl_everything(stats: MemoryStatsCollector) -> None:
    mw = middleware(StoreHolding({"demo:1"}, down=True), stats)
    out = through(mw, LISTING, listing([1, 2]))
    assert urls(out) == ["1", "2", "list?town=x", "list?page=3"]
    assert stats.get_value("adwatch/spider/store_unavailable") == 1
    assert mw.states.take("demo:1") == (False, None)  # not covered: dedupe asks the store itself
    assert mw.states.listed == {"demo:1", "demo:2"}


def test_detail_page_output_passes_untouched(stats: MemoryStatsCollector) -> None:
    store = StoreHolding(set())
    ad = Ad(id="demo:1", source="demo", url="http://127.0.0.1:1/ad/1")
    assert through(middleware(store, stats), LISTING, [ad]) == [ad]
    assert store.lookups == 0


def _ad(n: int, fetched_at: str, text: str = "Ring 070-174 06 05") -> Ad:
    return Ad(id=f"demo:{n}", source="demo", url=f"http://127.0.0.1:1/ad/{n}", fetched_at=fetched_at,
              title=f"Ad {n}", text=text, region="SE")


@pytest.mark.parametrize("refresh", [False, True])
def test_one_store_look_up_per_listing_page_not_per_ad(tmp_path: Path, stats: MemoryStatsCollector,
                                                        refresh: bool) -> None:
    real = SqliteStore(tmp_path / "t.db")
    normalize = NormalizePipeline(stats)
    stored = [DedupePipeline(real, stats).process_item(normalize.process_item(_ad(n, "2026-11-01T00:00:00Z")))
              for n in (1, 2)]
    real.write_ads([a.__dict__ for a in stored])
    store = Counting(real)
    mw = middleware(store, stats, skip_known=not refresh, may_stop_paging=False)
    dedupe = DedupePipeline(store, stats, mw.states)
    out = through(mw, LISTING, listing([1, 2, 3, 4, 5]))
    fetched = [int(u) for u in urls(out) if u.isdigit()]
    assert fetched == ([1, 2, 3, 4, 5] if refresh else [3, 4, 5])
    # Ad 2 changed on the site, ad 1 did not.
    results = {n: dedupe.process_item(normalize.process_item(
        _ad(n, "2026-11-02T00:00:00Z", "Nu: ring 070-174 06 06" if n == 2 else "Ring 070-174 06 05")))
        for n in fetched}
    assert store.lookups == 1  # the listing page's one query served every ad's dedupe
    if refresh:
        assert isinstance(results[1], AdSighting)
        assert isinstance(results[2], Ad) and (results[2].version, results[2].first_seen_at) == (
            2, "2026-11-01T00:00:00Z")
    assert all(isinstance(results[n], Ad) and results[n].version == 1 for n in (3, 4, 5))
    # An ad no listing page showed (not covered): dedupe asks the store for it alone.
    dedupe.process_item(normalize.process_item(_ad(9, "2026-11-02T00:00:00Z")))
    assert store.lookups == 2
    real.close()


def test_from_crawler_stops_paging_only_after_an_ok_run(tmp_path: Path) -> None:
    from adwatch.settings import load_settings
    from config.source_schema import parse_source
    from index import store_for_crawler
    from spiders.loader import source_spider_class
    from tests.test_incremental import SOURCE

    path = tmp_path / "growing.yaml"
    path.write_text(SOURCE.format(base="http://127.0.0.1:1"), encoding="utf-8")
    source, _ = parse_source(path)
    assert source is not None

    def made(refresh: bool = False) -> IncrementalMiddleware:
        crawler = get_crawler(source_spider_class(source))
        crawler.settings = load_settings({"ADWATCH_HOME": str(tmp_path), "ADWATCH_STORE": "sqlite"})
        crawler.spider = crawler.spidercls.from_crawler(crawler, refresh=refresh)
        made = IncrementalMiddleware.from_crawler(crawler)
        store_for_crawler(crawler).close()  # the one the middleware opened
        return made

    first = made()
    assert first.skip_known and not first.may_stop_paging  # never crawled: read every page
    db = SqliteStore(tmp_path / "adwatch.db")
    db.finish_run(db.start_run("growing", "2026-11-01T00:00:00Z"), finished_at="2026-11-01T00:01:00Z", status="ok")
    db.close()
    assert made().may_stop_paging
    refreshing = made(refresh=True)
    assert not refreshing.skip_known and not refreshing.may_stop_paging


def test_a_listing_page_that_breaks_part_way_keeps_what_it_yielded(stats: MemoryStatsCollector) -> None:
    store = StoreHolding({"demo:1"})
    mw = middleware(store, stats)
    seen: list[Any] = []

    async def breaking() -> AsyncIterator[Any]:
        for out in listing([1, 2], next_page=False):
            yield out
        raise ValueError("broken markup after the ads")

    async def collect() -> None:
        async for out in mw.process_spider_output_async(LISTING, breaking()):
            seen.append(out)

    with pytest.raises(ValueError, match="broken markup"):
        asyncio.run(collect())
    assert urls(seen) == ["2", "list?town=x"]
    assert [o.ids for o in seen if isinstance(o, AdSighting)] == [["demo:1"]]
    assert mw.states.listed == {"demo:1", "demo:2"}  # both count as listed: neither is "missing"


def test_the_plain_form_gives_what_the_async_form_gives() -> None:
    """Scrapy calls the plain form for the source spider's plain generator callbacks."""
    store = StoreHolding({"demo:1", "demo:3"})
    plain_stats, async_stats = (MemoryStatsCollector(get_crawler(Spider)) for _ in range(2))
    plain = list(middleware(store, plain_stats).process_spider_output(LISTING, iter(listing([1, 2, 3, 4]))))
    assert urls(plain) == urls(through(middleware(store, async_stats), LISTING, listing([1, 2, 3, 4])))
    assert [o.ids for o in plain if isinstance(o, AdSighting)] == [["demo:1", "demo:3"]]
    assert plain_stats.get_value("adwatch/spider/known_ads") == async_stats.get_value("adwatch/spider/known_ads") == 2

    def breaking() -> Iterator[Any]:
        yield from listing([1, 2], next_page=False)
        raise ValueError("broken markup after the ads")

    seen: list[Any] = []
    with pytest.raises(ValueError, match="broken markup"):
        seen.extend(middleware(store, plain_stats).process_spider_output(LISTING, breaking()))
    assert urls(seen) == ["2", "list?town=x"]
