"""Page objects build the Ad: one method per field, the region from the source or the setting."""

from __future__ import annotations

from pathlib import Path

from scrapy import Request
from scrapy.http import HtmlResponse

from config.source_schema import Source, parse_source
from spiders.pages import SelectorAdPage

SOURCE = """
name: pages
start_urls: ["http://127.0.0.1:1/list"]
ad_id_pattern: "/ad/(\\\\d+)"
{region}
listing:
  ad_links: "a.ad::attr(href)"
fields:
  title: "h1"
  text: "div.body"
  phone: "span.tel"
  images: "img::attr(src)"
"""

BODY = (b"<html><body><h1>Ny i stan</h1><div class=body>Ring mig</div><span class=tel>070-174 06 05</span>"
        b"<img src='/i/1.jpg'></body></html>")


def source(tmp_path: Path, region: str = "") -> Source:
    path = tmp_path / "pages.yaml"
    path.write_text(SOURCE.format(region=region), encoding="utf-8")
    parsed, problems = parse_source(path)
    assert parsed is not None, problems
    return parsed


def test_the_page_builds_the_ad(tmp_path: Path) -> None:
    response = HtmlResponse("http://127.0.0.1:1/ad/42", body=BODY, request=Request("http://127.0.0.1:1/ad/42"))
    ad = SelectorAdPage(response, source(tmp_path), "NO").ad()
    assert (ad.id, ad.source, ad.url, ad.site_id) == ("pages:42", "pages", "http://127.0.0.1:1/ad/42", "42")
    assert ad.region == "NO"  # no region in the source: the setting's
    assert (ad.title, ad.text, ad.phone_field, ad.images) == (
        "<h1>Ny i stan</h1>", "<div class=\"body\">Ring mig</div>", "<span class=\"tel\">070-174 06 05</span>",
        ["http://127.0.0.1:1/i/1.jpg"])
    assert ad.fetched_at and ad.fetched_at.endswith("Z") and ad.timezone == "Europe/Stockholm"


def test_the_source_region_wins_and_a_redirected_ad_keeps_its_listed_id(tmp_path: Path) -> None:
    request = Request("http://127.0.0.1:1/ad/42")
    response = HtmlResponse("http://127.0.0.1:1/moved", body=BODY, request=request)
    ad = SelectorAdPage(response, source(tmp_path, "region: DK"), "NO", listed_id="pages:42").ad()
    assert (ad.id, ad.site_id, ad.url, ad.region) == ("pages:42", "42", "http://127.0.0.1:1/moved", "DK")
