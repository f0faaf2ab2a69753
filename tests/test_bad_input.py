"""A crawl over a site full of bad pages: each problem is counted and logged, the rest is indexed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from index.sqlite import SqliteStore
from tests.conftest import listing_route, loopback_site, run_adwatch

SOURCE = """
name: badsite
start_urls: ["{base}/list"]
ad_id_pattern: "/ad/(\\\\w+)"
listing:
  ad_links: "a.ad::attr(href)"
  next_page: "a.next::attr(href)"
fields:
  title: "h1"
  text: "div.body"
  posted_at: "time::attr(datetime)"
  location: "span.town"
  phone: "span.phone"
politeness: {{delay: 0, concurrency: 4}}
"""

GOOD = "<html><body><h1>{title}</h1><span class=town>Gävle</span><time datetime='2026-11-20T10:00:00+01:00'>" \
       "</time><div class=body>Ring 070-174 06 {n:02d}</div></body></html>"

PAGES: dict[str, tuple[int, str, bytes]] = {
    "/ad/good1": (200, "text/html; charset=utf-8", GOOD.format(title="Good one", n=10).encode()),
    "/ad/good2": (200, "text/html; charset=utf-8", GOOD.format(title="Good two", n=11).encode()),
    # Malformed: unclosed everything, stray closers, a bare ampersand.
    "/ad/broken": (200, "text/html", b"<html><body><h1>Broken & bad<div class=body><p>Ring 070-174 06 12</span>"
                                     b"</td></tr> <span class=town>Sandviken"),
    # Latin-1 bytes with no charset anywhere.
    "/ad/latin1": (200, "text/html", "<h1>Söt tjej i Gävle</h1><div class=body>Ring 070-174 06 13. Hälsningar</div>"
                   .encode("latin-1")),
    # 10 MB of text in one ad.
    "/ad/huge": (200, "text/html; charset=utf-8", ("<h1>Huge</h1><div class=body>Ring 070-174 06 14. " + "bla " *
                                                   2_600_000 + "</div>").encode()),
    "/ad/notext": (200, "text/html; charset=utf-8", b"<h1>No text</h1><span class=phone>070-174 06 15</span>"),
    "/ad/empty": (200, "text/html; charset=utf-8", b"<html><body><p>nothing we know</p></body></html>"),
    "/ad/binary": (200, "image/jpeg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 10),
    "/ad/badfields": (200, "text/html; charset=utf-8", b"<h1>Odd date</h1><time datetime='yesterdayish'></time>"
                                                       b"<div class=body>Ring 070-174 06 16</div>"),
    "/ad/error": (500, "text/html", b"oops"),
}
_route = listing_route(PAGES, extra_links=("/ad/missing",))


@pytest.fixture
def bad_site() -> Iterator[str]:
    with loopback_site(_route) as base:
        yield base


def test_bad_pages_are_counted_and_the_rest_is_indexed(bad_site: str, home: Path, tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "badsite.yaml").write_text(SOURCE.format(base=bad_site), encoding="utf-8")
    result = run_adwatch("crawl", "badsite", "--json", home=home, env={"ADWATCH_SOURCES_DIR": str(sources)},
                         timeout=300)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stderr[-3000:]
    store = SqliteStore(home / "adwatch.db")
    (run,) = store.runs("badsite")
    stats = run["stats"]
    assert run["status"] == "ok"
    got = {row[0]: row for row in store.db.execute("SELECT id, title, text, phones, town FROM ads")}
    assert set(got) == {f"badsite:{n}" for n in ("good1", "good2", "broken", "latin1", "huge", "notext",
                                                   "badfields")}
    assert "+46701740612" in got["badsite:broken"]["phones"]
    assert got["badsite:latin1"]["title"] == "Söt tjej i Gävle"
    assert len(got["badsite:huge"]["text"]) == 20_000 and "+46701740614" in got["badsite:huge"]["phones"]
    assert "+46701740615" in got["badsite:notext"]["phones"]
    assert stats["adwatch/normalize/text_truncated"] == 1
    assert stats["adwatch/normalize/no_text"] == 1
    assert stats["adwatch/normalize/empty"] == 1
    assert stats["adwatch/normalize/bad_date"] == 1
    assert stats["adwatch/spider/not_text"] == 1
    assert stats["adwatch/spider/http_404"] == 1
    assert stats["adwatch/spider/http_500"] == 1
    # Each problem is logged once, not once per retry.
    assert result.stderr.count("/ad/error") == 1
    store.close()
