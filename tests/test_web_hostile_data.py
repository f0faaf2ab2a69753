"""Stored data a stranger shaped: odd types where facts belong, ids with slashes and dots, huge
text. One bad ad must never take a page down (a 500 would hide every other ad on it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from index.sqlite import SqliteStore
from tests.conftest import html_schedule, html_sources_dir
from tests.web_env import WebWorld, bare_world

pytestmark = pytest.mark.slow
ODD_ID = "annonsguiden:../../search/export"


def odd_ads() -> list[dict[str, Any]]:
    base: dict[str, Any] = {"source": "annonsguiden", "url": "javascript:alert(1)", "posted_at": "2026-11-20T10:00:00Z",
                            "first_seen_at": "2026-11-20T10:00:00Z", "last_seen_at": "2026-11-20T10:00:00Z",
                            "content_hash": "h", "version": 1}
    return [
        base | {"id": ODD_ID, "title": None, "text": "ring 070-174 06 05 " + "x" * 200_000,
                "phones": ["+46701740605"], "contacts": ["not a fact", None, {"type": 5, "value": None}],
                "indicators": [{"category": None, "start": "a", "end": None}, {"category": "youth", "start": 10**9}],
                "indicator_score": "high", "towns": [{"name": 3, "start": 0, "end": 10**9}, {"found_in": None}],
                "images": [None, 5, "javascript:x"],
                "language": "<b>", "phone_details": [{"e164": "+46701740605", "start": -5, "end": 3}]},
        base | {"id": "annonsguiden:2", "title": "<script>window.__xss=1</script>", "text": "\x00\x1b[31m\u202e",
                "phones": ["+46701740605"], "indicator_score": 1e308, "town": "Gävle", "lat": 60.67,
                "lon": 17.14},
    ]


@pytest.fixture(scope="module")
def odd_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebWorld]:
    home = tmp_path_factory.mktemp("odd") / "home"
    with bare_world(home, html_sources_dir(), html_schedule(), {"ana": "analyst"}) as world:
        store = SqliteStore(Path(home) / "adwatch.db")
        try:
            store.write_ads(odd_ads())
        finally:
            store.close()
        yield world


def test_pages_survive_odd_stored_data(odd_world: WebWorld) -> None:
    browser = odd_world.login("ana")
    listing = browser.get("/search", params={"per_page": 100})
    assert listing.status_code == 200
    assert f'href="/ads/{quote(ODD_ID, safe="")}"' in listing.text  # one path segment: no "/../" to resolve
    assert 'href="/search/export"' not in listing.text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in listing.text
    for path in (f"/ads/{quote(ODD_ID, safe='')}", "/ads/annonsguiden:2", "/phones/+46701740605",
                 "/search/export?format=csv", "/search/export?format=json", "/map?days=3650",
                 "/trends?since=2026-10-01", f"/images/0/{quote(ODD_ID, safe='')}",
                 f"/images/2/{quote(ODD_ID, safe='')}"):
        answer = browser.get(path)
        assert answer.status_code in (200, 404), (path, answer.status_code, answer.text[:300])
    page = browser.get(f"/ads/{quote(ODD_ID, safe='')}").text
    assert 'href="javascript:' not in page and 'lang="&lt;b&gt;"' not in page
    api = odd_world.api("ana")
    assert api.get(f"/api/v1/ads/{quote(ODD_ID, safe='')}").status_code == 200
    assert api.get("/api/v1/phones/+46701740605").json()["total"] == 2
