"""Tests for Velvet, the JavaScript classifieds of the demo world (adwatch/demo/jssite.py),
over real loopback HTTP. The browser side is tested with Chromium by the browser source's tests;
here: the shells carry no ads, the JSON API is complete and exact, hostile text stays data."""

from __future__ import annotations

import json
import re
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from email.message import Message
from importlib.resources import files
from typing import Any

import phonenumbers
import pytest
from bs4 import BeautifulSoup

from adwatch.demo import DemoAd, DemoSite
from adwatch.demo.generator import TOWN_BY_NAME
from adwatch.demo.jssite import SITE_V, JsClassifieds

ANCHOR = date(2026, 11, 28)
FICTION_RANGES: tuple[tuple[int, int], ...] = (
    (701740605, 701740699),
    (846500400, 846500499),
    (313900600, 313900699),
    (406280400, 406280499),
)


def fetch(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read()


def get_json(url: str) -> tuple[int, Any]:
    status, headers, body = fetch(url)
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    return status, json.loads(body)


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite(seed=7, count=120, anchor=ANCHOR) as demo:
        demo.js.slow_delay = 0  # only the slow-ad test switches the delay on
        yield demo


def up(site: DemoSite) -> list[DemoAd]:
    return [a for a in site.js.listed() if a.status == "ok"]


def walk(base: str, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Every listing batch from offset 0 following ``next``: the cards and the batch count."""
    cards: list[dict[str, Any]] = []
    offset: int | None = 0
    batches = 0
    while offset is not None:
        extra = "" if limit is None else f"&limit={limit}"
        status, data = get_json(f"{base}/v/api/ads?offset={offset}{extra}")
        assert status == 200
        assert set(data) == {"ads", "total", "next"}
        cards.extend(data["ads"])
        offset = data["next"]
        batches += 1
        assert batches < 1000
    return cards, batches


# -- the ads -------------------------------------------------------------------

def test_ads_are_derived_deterministically_with_the_worlds_towns(site: DemoSite) -> None:
    again = JsClassifieds(site, seed=7)
    assert again.ads == site.js.ads
    assert JsClassifieds(site, seed=8).ads != site.js.ads
    ads = site.js.ads
    # As many as site A by default, newest first, ids unique, Velvet's own paths and images.
    assert len(ads) == len(site.ads_a)
    assert ads == sorted(ads, key=lambda a: (a.posted_at, a.site_id), reverse=True)
    assert len({a.site_id for a in ads}) == len(ads)
    for ad in ads:
        assert ad.site == SITE_V
        assert ad.path == f"/v/ad/{ad.site_id}"
        assert all(re.fullmatch(rf"/v/img/{ad.site_id}-\d+\.png", src) for src in ad.images)
        assert ad.status in ("ok", "gone")
        assert ad.town in TOWN_BY_NAME
    # The gazetteer's towns; a small world's A and B cover most of Velvet's, not all.
    velvet_towns, ab_towns = {a.town for a in ads}, {a.town for a in site.ads}
    assert len(velvet_towns & ab_towns) >= 0.75 * len(velvet_towns)
    assert sum(a.status == "gone" for a in ads) >= 1
    assert len(JsClassifieds(site, seed=7, count=33).ads) == 33


def test_every_number_is_fiction_and_the_field_is_the_first(site: DemoSite) -> None:
    for ad in site.js.ads:
        for e164 in ad.phones:
            parsed = phonenumbers.parse(e164)
            assert parsed.country_code == 46
            assert any(lo <= (parsed.national_number or 0) <= hi for lo, hi in FICTION_RANGES), e164
        if ad.phone_field:
            field = phonenumbers.parse(ad.phone_field, "SE")
            assert phonenumbers.format_number(field, phonenumbers.PhoneNumberFormat.E164) == ad.phones[0]


@pytest.mark.parametrize("count", [30, 120, 360])
def test_several_numbers_are_shared_with_site_a_or_b(count: int) -> None:
    world = DemoSite(seed=7, count=count, anchor=ANCHOR)  # not started: only its ads are read
    on_ab = {p for a in world.ads for p in a.phones}
    on_velvet = {p for a in world.js.ads for p in a.phones}
    assert len(on_velvet & on_ab) >= 5
    assert world.js.shared_phones == on_velvet & on_ab
    # Numbers swapped in to share them keep field and ground truth in step.
    for ad in world.js.ads:
        assert ad.phones, ad.site_id
        if ad.phone_field:
            field = phonenumbers.parse(ad.phone_field, "SE")
            assert phonenumbers.format_number(field, phonenumbers.PhoneNumberFormat.E164) == ad.phones[0]


# -- the shells ----------------------------------------------------------------

def test_listing_shell_holds_no_ads(site: DemoSite) -> None:
    status, headers, body = fetch(site.base_url + "/v/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    html = body.decode("utf-8")
    soup = BeautifulSoup(html, "lxml")
    ads = soup.select_one("div#ads.ads")
    assert ads is not None and not ads.contents
    assert soup.select("article") == []
    more = soup.select_one("button#load-more.load-more[type=button]")
    assert more is not None and more.get_text() == "Visa fler"
    end = soup.select_one("p.end[hidden]")
    assert end is not None and end.get_text() == "Inga fler annonser"
    assert soup.select_one("div#sentinel") in ads.find_next_siblings()
    assert [s.get("src") for s in soup.select("script")] == ["/v/app.js"]
    for ad in site.js.ads[:40]:
        assert ad.title not in html and f"/v/ad/{ad.site_id}" not in html


def test_detail_shell_holds_no_ad_text(site: DemoSite) -> None:
    for ad in up(site)[:15]:
        status, _, body = fetch(site.base_url + ad.path)
        assert status == 200
        html = body.decode("utf-8")
        soup = BeautifulSoup(html, "lxml")
        root = soup.select_one("div#ad")
        assert root is not None and not root.contents
        assert [s.get("src") for s in soup.select("script")] == ["/v/app.js"]
        assert ad.title not in html and ad.poster not in html
        assert not ad.phone_field or ad.phone_field not in html
        assert all(p not in html for p in ad.phones)


def test_app_js_is_served_and_never_writes_markup(site: DemoSite) -> None:
    status, headers, body = fetch(site.base_url + "/v/app.js")
    assert status == 200
    assert headers["Content-Type"] == "application/javascript; charset=utf-8"
    script = body.decode("utf-8")
    assert script == files("adwatch.demo").joinpath("velvet.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "srcdoc", "createContextualFragment", "DOMParser"):
        assert sink not in script, sink
    # The contract the browser source is built on.
    for needle in ("/v/api/ads?offset=", "IntersectionObserver", "'load-more'", "'sentinel'",
                   "dataset.loaded", "'card-link'", "'show-number'", "XMLHttpRequest",
                   "'/phone'", "textContent"):
        assert needle in script, needle


# -- the JSON API --------------------------------------------------------------

def test_api_pages_through_every_visible_ad_exactly_once(site: DemoSite) -> None:
    cards, batches = walk(site.base_url)
    listed = site.js.listed()
    assert [c["id"] for c in cards] == [a.site_id for a in listed]
    assert batches == -(-len(listed) // 20)
    for card, ad in zip(cards, listed, strict=True):
        assert set(card) == {"id", "title", "town", "posted"}
        assert (card["title"], card["town"]) == (ad.title, ad.town)
        assert datetime.fromisoformat(card["posted"]) == ad.posted_at
        assert datetime.fromisoformat(card["posted"]).utcoffset() is not None
    status, data = get_json(site.base_url + "/v/api/ads?offset=0&limit=7")
    assert (len(data["ads"]), data["total"], data["next"]) == (7, len(listed), 7)
    assert [c["id"] for c in walk(site.base_url, limit=7)[0]] == [a.site_id for a in listed]
    assert [c["id"] for c in walk(site.base_url, limit=1000)[0]] == [a.site_id for a in listed]


@pytest.mark.parametrize("query", ["offset=abc&limit=xyz", "offset=-5&limit=0", "offset=&limit=",
                                   "offset=99999999999999999999", "limit=1e9"])
def test_api_answers_junk_parameters_with_a_batch(site: DemoSite, query: str) -> None:
    status, data = get_json(f"{site.base_url}/v/api/ads?{query}")
    assert status == 200
    assert data["total"] == len(site.js.listed())
    assert len(data["ads"]) <= 20
    assert data["next"] is None or data["next"] > 0


def test_detail_api_holds_the_ad(site: DemoSite) -> None:
    for ad in up(site):
        status, data = get_json(f"{site.base_url}/v/api/ad/{ad.site_id}")
        assert status == 200
        assert data == {
            "id": ad.site_id, "title": ad.title, "text": ad.text, "town": ad.town,
            "posted": data["posted"], "poster": ad.poster, "age": ad.age, "price": ad.price,
            "images": list(ad.images), "has_phone": bool(ad.phone_field),
        }
        assert datetime.fromisoformat(data["posted"]) == ad.posted_at
        assert "phone" not in data  # the number behind the button needs its own request


def test_phone_endpoint_reveals_the_phone_field(site: DemoSite) -> None:
    with_field = [a for a in up(site) if a.phone_field]
    without = [a for a in up(site) if not a.phone_field]
    assert with_field and without
    for ad in with_field:
        assert get_json(f"{site.base_url}/v/api/ad/{ad.site_id}/phone") == (
            200, {"phone": ad.phone_field})
    for ad in without:
        status, data = get_json(f"{site.base_url}/v/api/ad/{ad.site_id}/phone")
        assert status == 404 and "phone" not in data


def test_gone_and_unknown_ads_are_404(site: DemoSite) -> None:
    gone = [a for a in site.js.ads if a.status == "gone"]
    assert gone
    for ad in gone:
        assert fetch(site.base_url + ad.path)[0] == 404
        assert get_json(f"{site.base_url}/v/api/ad/{ad.site_id}")[0] == 404
        assert get_json(f"{site.base_url}/v/api/ad/{ad.site_id}/phone")[0] == 404
    for raw in ("1", "abc", "99999999", "1" * 40, f"{up(site)[0].site_id}x"):
        assert fetch(f"{site.base_url}/v/ad/{raw}")[0] == 404
        assert get_json(f"{site.base_url}/v/api/ad/{raw}")[0] == 404
    assert get_json(f"{site.base_url}/v/api/ad/{up(site)[0].site_id}/other")[0] == 404
    assert fetch(site.base_url + "/v/nothing-here")[0] == 404


def test_the_site_clock_decides_what_is_up(site: DemoSite) -> None:
    everything = [a.site_id for a in site.js.ads]
    day = date(2026, 11, 1)
    site.set_today(day)
    try:
        shown = [c["id"] for c in walk(site.base_url)[0]]
        assert shown == [a.site_id for a in site.js.ads if site.visible(a)]
        assert 0 < len(shown) < len(everything)
        later = next(a for a in site.js.ads if a.status == "ok" and a.posted_at.date() > day)
        assert fetch(site.base_url + later.path)[0] == 404
        assert get_json(f"{site.base_url}/v/api/ad/{later.site_id}")[0] == 404
        now = next(a for a in site.js.ads if a.status == "ok" and site.visible(a))
        assert fetch(site.base_url + now.path)[0] == 200
    finally:
        site.set_today(None)
    assert [c["id"] for c in walk(site.base_url)[0]] == everything


# -- slow pages, hostile text, images, test hooks ----------------------------------

def test_about_a_tenth_of_the_ads_are_slow(site: DemoSite) -> None:
    slow = site.js.slow_ids
    assert slow <= {a.site_id for a in site.js.ads}
    assert abs(len(slow) - len(site.js.ads) / 10) <= 1


def test_slow_ads_are_slow_only_when_switched_on(site: DemoSite) -> None:
    slow = next(a for a in up(site) if a.site_id in site.js.slow_ids)
    quick = next(a for a in up(site) if a.site_id not in site.js.slow_ids)
    held = site.js.held
    get_json(f"{site.base_url}/v/api/ad/{slow.site_id}")  # delay 0: answered at once
    assert site.js.held == held
    site.js.slow_delay = 0.4
    try:
        started = time.monotonic()
        assert get_json(f"{site.base_url}/v/api/ad/{slow.site_id}")[0] == 200
        assert time.monotonic() - started >= 0.4
        assert site.js.held == held + 1
        get_json(f"{site.base_url}/v/api/ad/{quick.site_id}")  # never held
        get_json(f"{site.base_url}/v/api/ad/{slow.site_id}/phone")  # only the ad JSON is slow
        fetch(site.base_url + slow.path)
        assert site.js.held == held + 1
    finally:
        site.js.slow_delay = 0
    assert JsClassifieds.slow_delay == 1.5  # the class default stays for the demo


def test_hostile_text_is_only_ever_json_data(site: DemoSite) -> None:
    kinds = site.js.hostile_ids
    assert set(kinds) == {"markup", "controls", "huge"}
    by_id = {a.site_id: a for a in site.js.ads}
    markup, controls, huge = (by_id[kinds[k]] for k in ("markup", "controls", "huge"))
    assert "<script>" in markup.text and "<img" in markup.title
    assert "\x00" in controls.text and "\x1b" in controls.title
    assert len(huge.text) > 200_000
    for ad in (markup, controls, huge):
        assert ad.phones  # hostile ads still carry their number
        status, _, body = fetch(f"{site.base_url}/v/api/ad/{ad.site_id}")
        raw = body.decode("utf-8")
        # No markup character and no raw control character leaves the server unescaped.
        assert not re.search(r"[<>&\x00-\x1f]", raw)
        data = json.loads(raw)
        assert (data["title"], data["text"], data["poster"]) == (ad.title, ad.text, ad.poster)
        shell = fetch(site.base_url + ad.path)[2].decode("utf-8")
        assert "__velvet_pwned" not in shell and ad.title not in shell
    _, _, listing = fetch(f"{site.base_url}/v/api/ads?offset=0&limit=100")
    assert not re.search(r"[<>&\x00-\x1f]", listing.decode("utf-8"))


def test_images_are_tiny_valid_pngs(site: DemoSite) -> None:
    for path in ("/v/img/40001-1.png", "/v/img/anything", "/v/img/a/b.jpg?x=1"):
        status, headers, body = fetch(site.base_url + path)
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
        pos, kinds = 8, []
        while pos < len(body):
            (length,) = struct.unpack(">I", body[pos:pos + 4])
            kind, data = body[pos + 4:pos + 8], body[pos + 8:pos + 8 + length]
            (crc,) = struct.unpack(">I", body[pos + 8 + length:pos + 12 + length])
            assert zlib.crc32(kind + data) == crc
            if kind == b"IHDR":
                assert struct.unpack(">II", data[:8]) == (1, 1)
            if kind == b"IDAT":
                assert len(zlib.decompress(data)) == 4  # one filter byte + one RGB pixel
            kinds.append(kind)
            pos += 12 + length
        assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    assert site.hits["/v/img/anything"] >= 1


def test_hang_page_spins_after_load(site: DemoSite) -> None:
    status, _, body = fetch(site.base_url + "/v/test/hang")
    assert status == 200
    assert "while (true) {}" in body.decode("utf-8")
    ad = up(site)[0]
    site.js.hang_ids.add(ad.site_id)
    try:
        assert "while (true) {}" in fetch(site.base_url + ad.path)[2].decode("utf-8")
    finally:
        site.js.hang_ids.clear()
    assert "while (true) {}" not in fetch(site.base_url + ad.path)[2].decode("utf-8")


def test_slow_hook_holds_its_answer(site: DemoSite) -> None:
    site.js.hold_seconds = 0.3
    try:
        started = time.monotonic()
        status, _, _ = fetch(site.base_url + "/v/test/slow")
        assert status == 200 and time.monotonic() - started >= 0.3
    finally:
        del site.js.hold_seconds  # back to the class default
    assert site.js.hold_seconds == 30.0


def test_a_held_response_never_blocks_shutdown() -> None:
    demo = DemoSite(seed=7, count=30, anchor=ANCHOR)
    base = demo.start()
    outcome: list[object] = []

    def ask() -> None:
        try:
            outcome.append(fetch(base + "/v/test/slow")[0])
        except OSError as err:  # the server went away mid-request: what we want
            outcome.append(err)

    client = threading.Thread(target=ask, daemon=True)
    client.start()
    deadline = time.monotonic() + 10
    while demo.js.held == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert demo.js.held == 1
    started = time.monotonic()
    demo.stop()
    client.join(timeout=10)
    assert time.monotonic() - started < 10  # far below the 30 s hold
    assert not client.is_alive()
    assert outcome and outcome[0] != 200
