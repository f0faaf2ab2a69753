"""Tests for the synthetic demo classifieds site (adwatch.demo), over real loopback HTTP."""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from email.message import Message
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from bs4 import BeautifulSoup, Tag

from adwatch.demo import DemoAd, DemoSite, generate_ads
from adwatch.demo.generator import ROUTES

ANCHOR = date(2026, 11, 28)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
REPO = Path(__file__).resolve().parents[1]

# The PTS fiction ranges, written out independently of the generator's constants.
FICTION_RANGES: tuple[tuple[int, int], ...] = (
    (701740605, 701740699),
    (846500400, 846500499),
    (313900600, 313900699),
    (406280400, 406280499),
)


def in_fiction_range(e164: str) -> bool:
    parsed = phonenumbers.parse(e164)
    return parsed.country_code == 46 and any(
        lo <= (parsed.national_number or 0) <= hi for lo, hi in FICTION_RANGES
    )


def fetch(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read()


def soup_a(body: bytes) -> BeautifulSoup:
    return BeautifulSoup(body.decode("utf-8"), "lxml")


def soup_b(body: bytes) -> BeautifulSoup:
    return BeautifulSoup(body.decode("cp1252"), "lxml")


def one(node: Tag, css: str) -> Tag:
    """The single element a selector must find (fails the test when missing)."""
    found = node.select_one(css)
    assert found is not None, css
    return found


def text_of(node: Tag) -> str:
    """Element text with <br> as newline, as an extractor would read it."""
    for br in node.find_all("br"):
        br.replace_with("\n")
    return node.get_text()


@pytest.fixture(scope="module")
def ads() -> list[DemoAd]:
    return generate_ads(anchor=ANCHOR)


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite(anchor=ANCHOR) as demo:
        yield demo


@pytest.fixture
def fresh_site() -> Iterator[DemoSite]:
    """A new instance: flaky ads have not been requested yet."""
    with DemoSite(anchor=ANCHOR) as demo:
        yield demo


# ---------------------------------------------------------------------------
# Generator


def test_same_seed_same_ads(ads: list[DemoAd]) -> None:
    assert generate_ads(seed=7, count=360, anchor=ANCHOR) == ads


def test_different_seed_different_ads(ads: list[DemoAd]) -> None:
    other = generate_ads(seed=8, anchor=ANCHOR)
    assert [a.text for a in other] != [a.text for a in ads]
    assert [a.phones for a in other] != [a.phones for a in ads]


def test_default_anchor_is_today() -> None:
    today = datetime.now(STOCKHOLM).date()
    for ad in generate_ads(count=40):
        assert today - timedelta(days=61) <= ad.posted_at.date() < today + timedelta(days=1)


def test_count_is_honoured() -> None:
    for n in (1, 25, 100, 500):
        assert len(generate_ads(count=n, anchor=ANCHOR)) == n


def test_volume_sites_and_towns(ads: list[DemoAd]) -> None:
    assert len(ads) >= 300
    towns: dict[str, int] = defaultdict(int)
    for ad in ads:
        towns[ad.town] += 1
    assert len(towns) >= 28
    small = max(towns[t] for t in ("Arboga", "Mora", "Ljungby", "Bollnäs"))
    for big in ("Stockholm", "Göteborg", "Malmö", "Uppsala"):
        assert towns[big] > small
    share_a = sum(a.site == "annons" for a in ads) / len(ads)
    assert 0.6 <= share_a <= 0.72
    assert len({a.town for a in ads if a.site == "annons"}) >= 28


def test_ids_and_paths(ads: list[DemoAd]) -> None:
    for site_name in ("annons", "nl"):
        ids = [a.site_id for a in ads if a.site == site_name]
        assert len(ids) == len(set(ids))
    for ad in ads:
        if ad.site == "annons":
            assert ad.site_id > 10000
            assert ad.path == f"/annons/ad/{ad.site_id}"
            assert all(re.fullmatch(rf"/img/{ad.site_id}-\d\.jpg", i) for i in ad.images)
        else:
            assert 5000 < ad.site_id < 10000
            assert ad.path == f"/nl/listing.php?id={ad.site_id}"
            assert all(i.startswith("/img/") and i.endswith(".jpg") for i in ad.images)


def test_posted_at_is_aware_and_in_window(ads: list[DemoAd]) -> None:
    start = datetime.combine(ANCHOR - timedelta(days=60), datetime.min.time(), STOCKHOLM)
    end = datetime.combine(ANCHOR, datetime.min.time(), STOCKHOLM)
    for ad in ads:
        assert ad.posted_at.tzinfo is not None
        assert start <= ad.posted_at < end
        assert ad.posted_at.utcoffset() == ad.posted_at.astimezone(STOCKHOLM).utcoffset()
    # November dates carry the winter offset.
    nov = [a for a in ads if a.posted_at.month == 11]
    assert nov and all(a.posted_at.isoformat().endswith("+01:00") for a in nov)


def test_every_phone_is_a_fiction_number(ads: list[DemoAd]) -> None:
    seen = 0
    for ad in ads:
        assert ad.phones, ad
        assert len(set(ad.phones)) == len(ad.phones)
        for e164 in ad.phones:
            parsed = phonenumbers.parse(e164)
            assert phonenumbers.is_valid_number(parsed), e164
            assert phonenumbers.region_code_for_number(parsed) == "SE"
            assert in_fiction_range(e164), e164
            seen += 1
        if ad.phone_field:
            field = phonenumbers.parse(ad.phone_field, "SE")
            as_e164 = phonenumbers.format_number(field, phonenumbers.PhoneNumberFormat.E164)
            assert as_e164 == ad.phones[0]
    assert seen > len(ads)  # some ads carry two numbers


def test_plain_numbers_in_text_match_ground_truth(ads: list[DemoAd]) -> None:
    """Where nothing is obfuscated, a stock matcher recovers exactly ``phones``.

    This also proves the decoys (prices, times, postcodes, rooms) are not numbers.
    """
    checked = 0
    for ad in ads:
        if ad.obfuscated:
            continue
        found = {
            phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
            for m in phonenumbers.PhoneNumberMatcher(ad.text, "SE")
        }
        if ad.phone_field:
            found.add(ad.phones[0])
        assert found == set(ad.phones), ad
        checked += 1
    assert checked > 200


def test_obfuscation_share_and_variety(ads: list[DemoAd]) -> None:
    obfuscated = [a for a in ads if a.obfuscated]
    assert all(a.text for a in obfuscated)
    plain_in_text = [a for a in ads if not a.obfuscated
                     and any(phonenumbers.PhoneNumberMatcher(a.text, "SE"))]
    # Roughly a third of the ads that write a number in the text disguise it.
    assert 0.2 <= len(obfuscated) / (len(obfuscated) + len(plain_in_text)) <= 0.5
    blob = "\n".join(a.text for a in obfuscated)
    for marker in ("noll sju", "zero", "\u20e3", "０", "(0)", "0046", " / "):
        assert marker in blob, marker
    assert re.search(r"\d\*\d{3}\*\d", blob)  # odd separators
    assert re.search(r"\bO[3478]", blob)  # letter O for zero
    assert re.search(r"\b0 [3478] \d \d", blob)  # digits spread with spaces
    assert re.search(r"\b(?:ring|sms|tel|call)0\d{8,9}\b", blob)
    assert re.search(r"-\d{3}\n\d\d \d\d", blob)  # number split across a line break


def test_decoys_present(ads: list[DemoAd]) -> None:
    blob = "\n".join(a.text for a in ads)
    assert re.search(r"\b\d{4} kr\b", blob)
    assert re.search(r"\b\d{4}:-", blob)
    assert re.search(r"\b\d\d:00-\d\d:00\b", blob)
    assert re.search(r"\b\d{1,2}/\d{1,2}–\d{1,2}/\d{1,2}\b", blob)
    assert re.search(r"postnr \d{3} \d\d\b", blob)
    assert re.search(r"\brum \d{3}\b", blob)


def test_wording_mix(ads: list[DemoAd]) -> None:
    blob = "\n".join(a.title + "\n" + a.text for a in ads).lower()
    for phrase in ("ny i stan", "bara några dagar", "only sms", "24/7", "hotell",
                   "två tjejer", "pratar ingen svenska", "romanian", "polsk tjej",
                   "young", "massage", "avslappning"):
        assert phrase in blob, phrase
    assert {a.language for a in ads} == {"sv", "en"}
    assert sum(a.text == "" and a.phone_field != "" for a in ads) >= 5
    assert all(a.phone_field for a in ads if not a.text)


def test_travelling_numbers(ads: list[DemoAd]) -> None:
    by_phone: dict[str, list[DemoAd]] = defaultdict(list)
    for ad in ads:
        for p in ad.phones:
            by_phone[p].append(ad)
    travellers = 0
    for group in by_phone.values():
        towns = {a.town for a in group}
        if len(towns) < 3:
            continue
        travellers += 1
        days = [a.posted_at.date() for a in sorted(group, key=lambda a: a.posted_at)]
        assert len(set(days)) == len(days)
        assert any(towns <= set(route) for route in ROUTES.values()), towns
    assert travellers >= 10
    singles = sum(len(g) == 1 for g in by_phone.values())
    assert singles >= 50
    assert sum(len(a.phones) == 2 for a in ads) >= 10


def test_near_duplicate_texts_with_different_numbers(ads: list[DemoAd]) -> None:
    texts = [a for a in ads if len(a.text) > 80]
    pairs = 0
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if set(a.phones) & set(b.phones) or a.town == b.town:
                continue
            if difflib.SequenceMatcher(None, a.text, b.text).quick_ratio() < 0.85:
                continue
            if difflib.SequenceMatcher(None, a.text, b.text).ratio() >= 0.85:
                pairs += 1
        if pairs >= 5:
            break
    assert pairs >= 5


def test_status_shares_per_site(ads: list[DemoAd]) -> None:
    for name in ("annons", "nl"):
        mine = [a for a in ads if a.site == name]
        gone = sum(a.status == "gone" for a in mine)
        flaky = sum(a.status == "flaky" for a in mine)
        malformed = sum(a.malformed for a in mine)
        assert 1 <= gone <= 0.04 * len(mine)
        assert 0.03 * len(mine) <= flaky <= 0.07 * len(mine)
        assert 0.02 * len(mine) <= malformed <= 0.05 * len(mine)
        assert not any(a.malformed and a.status == "gone" for a in mine)
    assert {a.status for a in ads} == {"ok", "gone", "flaky"}


# ---------------------------------------------------------------------------
# Server basics


def test_robots_health_admin_unknown(site: DemoSite) -> None:
    status, headers, body = fetch(site.base_url + "/robots.txt")
    assert status == 200
    assert body.decode() == "User-agent: *\nDisallow: /admin/\nDisallow: /annons/sok\n"
    assert fetch(site.base_url + "/healthz")[::2] == (200, b"ok")
    assert fetch(site.base_url + "/admin/")[0] == 403
    assert fetch(site.base_url + "/admin/users")[0] == 403
    assert fetch(site.base_url + "/nope")[0] == 404
    assert fetch(site.base_url + "/annons/ad/1")[0] == 404
    assert fetch(site.base_url + "/annons/stad/atlantis")[0] == 404
    assert fetch(site.base_url + "/nl/listing.php?id=abc")[0] == 404


def test_base_url_and_stop() -> None:
    demo = DemoSite(count=30, anchor=ANCHOR)
    url = demo.start()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and url == demo.base_url
    assert fetch(url + "/healthz")[0] == 200
    demo.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=2)  # noqa: S310 - loopback only


# ---------------------------------------------------------------------------
# Site A: Annonsguiden


def crawl_a_listing(site: DemoSite, start: str) -> tuple[list[str], int]:
    """Follow a.next links; returns ad hrefs in order and the number of pages."""
    url: str | None = site.base_url + start
    hrefs: list[str] = []
    pages = 0
    while url:
        status, headers, body = fetch(url)
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        soup = soup_a(body)
        cards = soup.select("article.ad-card")
        assert 0 < len(cards) <= 20
        for card in cards:
            link = card.select_one("a.ad-link")
            assert link is not None and card.select_one("span.card-town") is not None
            hrefs.append(str(link["href"]))
        nxt = soup.select_one('a.next[rel="next"]')
        url = site.base_url + str(nxt["href"]) if nxt else None
        pages += 1
    return hrefs, pages


def test_site_a_pagination_reaches_every_ad(site: DemoSite) -> None:
    hrefs, pages = crawl_a_listing(site, "/annons/")
    expected = sorted((a for a in site.ads if a.site == "annons"),
                      key=lambda a: (a.posted_at, a.site_id), reverse=True)
    assert hrefs == [a.path for a in expected]  # every ad, newest first, once
    assert pages == -(-len(expected) // 20)
    assert site.hits["/annons/?page=2"] >= 1
    status, _, body = fetch(f"{site.base_url}/annons/?page={pages + 1}")
    assert status == 200 and not soup_a(body).select("article.ad-card")


def test_site_a_town_nav_and_pages(site: DemoSite) -> None:
    _, _, body = fetch(site.base_url + "/annons/?page=3")
    nav = {str(a["href"]): a.get_text() for a in soup_a(body).select("nav.towns a")}
    a_ads = [a for a in site.ads if a.site == "annons"]
    assert set(nav.values()) == {a.town for a in a_ads}
    for slug, town in (("gavle", "Gävle"), ("goteborg", "Göteborg"), ("orebro", "Örebro"),
                       ("norrkoping", "Norrköping"), ("malmo", "Malmö")):
        assert nav[f"/annons/stad/{slug}"] == town
    for href, town in nav.items():
        hrefs, _ = crawl_a_listing(site, href)
        expected = sorted((a for a in a_ads if a.town == town),
                          key=lambda a: (a.posted_at, a.site_id), reverse=True)
        assert hrefs == [a.path for a in expected], town
    big = [h for h, t in nav.items() if t == "Stockholm"][0]
    _, _, body = fetch(site.base_url + big)
    nxt = soup_a(body).select_one("a.next")
    assert nxt is not None and nxt["href"] == big + "?page=2"
    status, _, body = fetch(site.base_url + big + "?page=99")
    assert status == 200 and not soup_a(body).select("article.ad-card")
    towns = [c.get_text() for c in soup_a(fetch(site.base_url + big)[2]).select(".card-town")]
    assert set(towns) == {"Stockholm"}


def check_a_detail(ad: DemoAd, body: bytes) -> None:
    soup = soup_a(body)
    assert one(soup, "h1.ad-title").get_text() == ad.title
    posted = one(soup, "time.posted")
    assert posted["datetime"] == ad.posted_at.isoformat()
    assert datetime.fromisoformat(str(posted["datetime"])) == ad.posted_at
    assert posted.get_text().endswith(ad.posted_at.strftime("%H:%M"))
    assert one(soup, "span.location").get_text() == ad.town
    assert one(soup, "span.poster").get_text() == ad.poster
    age = soup.select_one("span.age")
    assert (age.get_text() if age else None) == (None if ad.age is None else f"{ad.age} år")
    price = soup.select_one("span.price")
    assert (price.get_text() if price else "") == ad.price
    phone = soup.select_one("span.phone")
    assert (phone.get_text() if phone else "") == ad.phone_field
    body_div = one(soup, "div.ad-body")
    paras = [text_of(p).strip("\n") for p in body_div.select("p")]
    assert "\n\n".join(paras) == ad.text
    assert [img["src"] for img in soup.select("div.gallery img")] == list(ad.images)
    # Boilerplate is present but outside the ad body.
    assert "Annonsguiden ©" in soup.get_text() and "kakor" in soup.get_text()
    assert "kakor" not in body_div.get_text()


def test_site_a_details_match_ground_truth(fresh_site: DemoSite) -> None:
    checked = 0
    for ad in fresh_site.ads:
        if ad.site != "annons" or ad.status == "gone":
            continue
        status, headers, body = fetch(fresh_site.base_url + ad.path)
        if ad.status == "flaky":
            assert status == 503
            status, headers, body = fetch(fresh_site.base_url + ad.path)
        assert status == 200, ad
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        check_a_detail(ad, body)
        checked += 1
    assert checked > 200


# ---------------------------------------------------------------------------
# Site B: Nightlist


def test_site_b_pagination_and_charset(site: DemoSite) -> None:
    url: str | None = site.base_url + "/nl/"
    rows: list[tuple[str, str, str, str]] = []
    raw_pages: list[bytes] = []
    while url:
        status, headers, body = fetch(url)
        assert status == 200
        assert headers.get_content_charset() == "windows-1252"
        raw_pages.append(body)
        soup = soup_b(body)
        page_rows = soup.select("table.listing tr.row")
        assert 0 < len(page_rows) <= 25
        for tr in page_rows:
            link = one(tr, "td.t a")
            rows.append((str(link["href"]), link.get_text(),
                         one(tr, "td.c").get_text(), one(tr, "td.d").get_text()))
        nxt = soup.select_one("a.pager-next")
        url = site.base_url + str(nxt["href"]) if nxt else None
    expected = sorted((a for a in site.ads if a.site == "nl"),
                      key=lambda a: (a.posted_at, a.site_id), reverse=True)
    assert rows == [(a.path, a.title, a.town,
                     a.posted_at.astimezone(STOCKHOLM).strftime("%Y-%m-%d")) for a in expected]
    blob = b"".join(raw_pages)
    text = blob.decode("cp1252")  # strict: every byte is valid windows-1252
    assert all(ch in text for ch in "åäö")
    assert "ö".encode("cp1252") in blob and "ö".encode() not in blob  # not UTF-8
    status, _, body = fetch(f"{site.base_url}/nl/?p={len(raw_pages) + 1}")
    assert status == 200 and not soup_b(body).select("tr.row")


def check_b_detail(ad: DemoAd, body: bytes) -> None:
    soup = soup_b(body)
    listing = one(soup, "#listing")
    assert one(listing, "h2").get_text() == ad.title
    facts = {dt.get_text(): dd.get_text()
             for dt, dd in zip(listing.select("dl.facts dt"), listing.select("dl.facts dd"),
                               strict=True)}
    local = ad.posted_at.astimezone(STOCKHOLM)
    expected = {"City": ad.town, "Posted": local.strftime("%Y-%m-%d %H:%M"), "Name": ad.poster,
                "Age": "" if ad.age is None else str(ad.age), "Rate": ad.price,
                "Phone": ad.phone_field}
    assert facts == {k: v for k, v in expected.items() if v}
    assert text_of(one(listing, "div.descr")) == ad.text
    assert [img["src"] for img in listing.select("div.pics img")] == list(ad.images)


def test_site_b_details_match_ground_truth(fresh_site: DemoSite) -> None:
    checked = 0
    entities = 0
    for ad in fresh_site.ads:
        if ad.site != "nl" or ad.status == "gone":
            continue
        status, headers, body = fetch(fresh_site.base_url + ad.path)
        if ad.status == "flaky":
            assert status == 503
            status, headers, body = fetch(fresh_site.base_url + ad.path)
        assert status == 200, ad
        assert headers["Content-Type"] == "text/html; charset=windows-1252"
        check_b_detail(ad, body)
        entities += b"&#" in body
        checked += 1
    assert checked > 80
    assert entities >= 3  # emoji and full-width digits travel as numeric entities


# ---------------------------------------------------------------------------
# Failure modes


def test_flaky_is_503_once_per_path_and_instance(fresh_site: DemoSite) -> None:
    flaky = [a for a in fresh_site.ads if a.status == "flaky"]
    assert {a.site for a in flaky} == {"annons", "nl"}
    for ad in flaky[:4]:
        status, headers, _ = fetch(fresh_site.base_url + ad.path)
        assert status == 503 and headers["Retry-After"] == "1"
        assert fetch(fresh_site.base_url + ad.path)[0] == 200
        assert fetch(fresh_site.base_url + ad.path)[0] == 200
        assert fresh_site.hits[ad.path] == 3
    # Concurrent first requests: exactly one of them sees the 503.
    target = fresh_site.base_url + flaky[-1].path
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(lambda _: fetch(target)[0], range(8)))
    assert codes == [200] * 7 + [503]
    # A new server instance starts over.
    with DemoSite(anchor=ANCHOR) as again:
        assert fetch(again.base_url + flaky[0].path)[0] == 503


def test_gone_ads_are_listed_but_404(site: DemoSite) -> None:
    gone = [a for a in site.ads if a.status == "gone"]
    assert {a.site for a in gone} == {"annons", "nl"}
    listed, _ = crawl_a_listing(site, "/annons/")
    for ad in gone:
        assert fetch(site.base_url + ad.path)[0] == 404
        assert fetch(site.base_url + ad.path)[0] == 404
        if ad.site == "annons":
            assert ad.path in listed


def test_malformed_pages_are_broken_but_readable(site: DemoSite) -> None:
    broken = [a for a in site.ads if a.malformed]
    assert {a.site for a in broken} == {"annons", "nl"}
    for ad in broken:
        status, _, body = fetch(site.base_url + ad.path)
        if status == 503:
            status, _, body = fetch(site.base_url + ad.path)
        assert status == 200
        html = body.decode("utf-8" if ad.site == "annons" else "cp1252")
        assert html.count("<div") < html.count("</div>")  # stray closing tags
        assert re.search(r"&(?![#a-zA-Z0-9]+;)", html)  # an unescaped ampersand
        assert "</html>" not in html
        if ad.site == "annons":
            check_a_detail(ad, body)
        else:
            check_b_detail(ad, body)


def test_hits_are_counted_by_target(fresh_site: DemoSite) -> None:
    ad_b = next(a for a in fresh_site.ads if a.site == "nl" and a.status == "ok")
    fetch(fresh_site.base_url + ad_b.path)
    fetch(fresh_site.base_url + "/robots.txt")
    fetch(fresh_site.base_url + "/robots.txt")
    assert fresh_site.hits[ad_b.path] == 1
    assert fresh_site.hits["/robots.txt"] == 2
    assert fresh_site.hits["/annons/"] == 0


def test_cli_serves_until_stopped() -> None:
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "adwatch.demo.server", "--port", "0", "--seed", "3",
         "--count", "40", "--anchor", ANCHOR.isoformat()],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        url = proc.stderr.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        assert fetch(url + "/healthz")[::2] == (200, b"ok")
        status, _, body = fetch(url + "/annons/")
        assert status == 200 and b"ad-card" in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_growing_towns_have_most_of_their_ads_in_the_latest_weeks() -> None:
    from datetime import date, timedelta

    from adwatch.demo.generator import GROWING_TOWNS, generate_ads

    anchor = date(2026, 11, 28)
    ads = generate_ads(seed=7, count=360, anchor=anchor)

    def recent_share(towns: set[str] | frozenset[str], inside: bool) -> float:
        mine = [a for a in ads if (a.town in towns) == inside]
        return sum(a.posted_at.date() > anchor - timedelta(days=21) for a in mine) / len(mine)

    assert recent_share(GROWING_TOWNS, True) > 0.6 > 0.5 > recent_share(GROWING_TOWNS, False)
