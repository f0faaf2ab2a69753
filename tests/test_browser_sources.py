"""The browser source ``velvet`` against the demo world's JavaScript classifieds, in a real
headless Chromium: infinite scroll reaches the last ad, the numbers behind "Visa nummer"
(fetched by XHR) are extracted, images are never fetched, no page is left open, and the
next crawl opens only the ads it has not seen.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adwatch.demo.generator import to_e164
from adwatch.demo.server import DemoSite
from tests.browser_env import require_chromium
from tests.conftest import ROOT, run_adwatch

pytestmark = pytest.mark.slow
HELD_BACK_DAYS = 3  # the first crawl sees the site as it was this many days ago


@dataclass
class Crawled:
    site: DemoSite
    home: Path
    first: dict[str, Any]
    second: dict[str, Any]
    hits_after_first: dict[str, int]
    first_ids: set[str]
    up_at_first: set[int]


def _velvet_sources(folder: Path, **browser: Any) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "config" / "sources" / "velvet.yaml").read_text()
    for key, value in browser.items():  # the bundled file with a few browser options changed
        lines = [line for line in text.splitlines() if not line.startswith(f"  {key}:")]
        at = lines.index("browser:") + 1
        lines.insert(at, f"  {key}: {json.dumps(value)}")
        text = "\n".join(lines) + "\n"
    (folder / "velvet.yaml").write_text(text)
    return str(folder)


def _crawl(site: DemoSite, home: Path, sources: str) -> dict[str, Any]:
    result = run_adwatch("crawl", "velvet", "--base-url", site.base_url, "--json", home=home,
                         env={"ADWATCH_SOURCES_DIR": sources}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs[0]


def _stored(home: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(home / "adwatch.db") as db:
        db.row_factory = sqlite3.Row
        return {row["id"]: dict(row) for row in db.execute("SELECT * FROM ads")}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    require_chromium()
    home = tmp_path_factory.mktemp("velvet") / "home"
    home.mkdir()
    sources = _velvet_sources(home.parent / "sources")
    with DemoSite(seed=7, count=120) as site:
        site.js.slow_delay = 0.3  # some detail pages still render late
        site.show_until(site.anchor - timedelta(days=HELD_BACK_DAYS))
        up_at_first = {a.site_id for a in site.js.listed() if a.status != "gone"}
        first = _crawl(site, home, sources)
        first_ids = set(_stored(home))
        hits = dict(site.hits)
        site.show_until(None)
        second = _crawl(site, home, sources)
        yield Crawled(site, home, first, second, hits, first_ids, up_at_first)


def test_infinite_scroll_reaches_the_last_ad(crawled: Crawled) -> None:
    assert len(crawled.up_at_first) > 40  # more than two batches of 20: scrolling was needed
    assert crawled.first_ids == {f"velvet:{n}" for n in crawled.up_at_first}
    assert crawled.first["stats"]["adwatch/browser/scroll_loads"] >= 2
    assert crawled.first["status"] == "ok"
    assert "adwatch/spider/stopped_paging" not in crawled.first["stats"]  # its end-of-list mark was seen


def test_numbers_behind_the_button_are_extracted(crawled: Crawled) -> None:
    stored = _stored(crawled.home)
    with_button = [a for a in crawled.site.js.ads if a.phone_field and f"velvet:{a.site_id}" in stored]
    assert len(with_button) > 20
    for ad in with_button:
        row = stored[f"velvet:{ad.site_id}"]
        assert row["phone_field"] == ad.phone_field, ad.site_id
        phones = json.loads(row["phones"])
        assert to_e164(ad.phone_field.split(",")[0]) in phones or set(ad.phones) <= set(phones), ad.site_id
    assert crawled.first["stats"]["adwatch/browser/revealed"] >= len(with_button) - 1


def test_images_fonts_and_media_are_never_fetched(crawled: Crawled) -> None:
    assert not [path for path in crawled.site.hits if path.startswith("/v/img/")]
    assert crawled.first["stats"]["adwatch/browser/blocked"] > 0


def test_the_sites_cacheable_script_is_fetched_once_per_crawl(crawled: Crawled) -> None:
    # Chromium's own cache is off for routed pages; the asset cache keeps what the site allows.
    assert crawled.hits_after_first["/v/app.js"] == 1
    assert crawled.first["stats"]["adwatch/browser/assets_from_cache"] >= len(crawled.up_at_first) - 1


def test_no_page_is_left_open(crawled: Crawled) -> None:
    for run in (crawled.first, crawled.second):
        assert run["stats"]["adwatch/browser/pages_left_open"] == 0


def test_the_next_crawl_opens_only_new_ads(crawled: Crawled) -> None:
    site = crawled.site
    new = {a.site_id for a in site.js.listed() if a.status != "gone"} - crawled.up_at_first
    assert new, "the site clock showed no new ads"
    for ad_id in crawled.up_at_first:  # known ads: no browser page opened for them again
        assert site.hits[f"/v/ad/{ad_id}"] == crawled.hits_after_first.get(f"/v/ad/{ad_id}", 0)
    assert crawled.second["new_ads"] == len(new)
    assert set(_stored(crawled.home)) == {f"velvet:{n}" for n in crawled.up_at_first | new}
    assert crawled.second["stats"]["adwatch/spider/known_ads"] >= len(crawled.up_at_first)


def test_robots_txt_is_a_plain_request(crawled: Crawled) -> None:
    # Only pages named in `render` go through Chromium: robots.txt is fetched by Scrapy itself.
    stats = crawled.first["stats"]
    rendered = (stats["adwatch/spider/listing_pages"] + stats["adwatch/spider/detail_pages"]
                + stats.get("adwatch/spider/http_404", 0)  # and attempts that failed, then tried again:
                + sum(stats.get(f"adwatch/browser/{e}", 0) for e in ("page_error", "page_timeout", "page_crashed")))
    assert stats["adwatch/browser/pages"] == rendered
    assert crawled.hits_after_first["/robots.txt"] == 1


def test_load_more_alone_reaches_the_last_ad_and_the_budget_stops_the_rest(tmp_path: Path) -> None:
    """Scrolling off, the "Visa fler" button pressed instead; a budget of one browser page
    renders the listing only, and every ad it found is skipped for the next crawl, not failed."""
    require_chromium()
    sources = _velvet_sources(tmp_path / "sources", scroll=0, page_budget=1)
    home = tmp_path / "home"
    home.mkdir()
    with DemoSite(seed=7, count=120) as site:
        up = [a for a in site.js.listed()]
        run = _crawl(site, home, sources)
    stats = run["stats"]
    assert stats["adwatch/browser/load_more_presses"] >= 2
    assert stats["adwatch/spider/browser_budget_skipped"] == len(up)
    assert stats["adwatch/spider/stopped_paging"] >= 1 and run["removed_ads"] == 0
    assert _stored(home) == {}
    shutil.rmtree(home)


@pytest.mark.parametrize(("options", "event"), [
    ({"scroll": 1, "max_loads": 0}, "listing_limit_reached"),  # the limits cut the listing short
    ({"scroll": 0, "load_more": None}, "listing_end_missing"),  # nothing more came, but no end-of-list mark
])
def test_a_listing_not_loaded_to_its_end_marks_no_ad_removed(tmp_path: Path, options: dict[str, Any],
                                                              event: str) -> None:
    require_chromium()
    sources = _velvet_sources(tmp_path / "sources", page_budget=1, **options)  # the listing page only
    home = tmp_path / "home"
    home.mkdir()
    with DemoSite(seed=7, count=120) as site:
        run = _crawl(site, home, sources)
    stats = run["stats"]
    assert stats[f"adwatch/browser/{event}"] == 1
    assert stats["adwatch/spider/browser_budget_skipped"] < len(site.js.listed())  # it saw only part
    assert stats["adwatch/spider/stopped_paging"] >= 1 and run["removed_ads"] == 0
