"""Local HTTP server for the synthetic classifieds (site A "Annonsguiden", site B "Nightlist").

Standard library only, so tests and demos need nothing beyond Python itself.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlsplit

from adwatch.demo.channel import DemoChannels
from adwatch.demo.generator import (
    SITE_A,
    SITE_B,
    STOCKHOLM,
    DemoAd,
    generate_ads,
    swedish_sort_key,
    town_slug,
)
from adwatch.demo.jssite import JsClassifieds

A_PAGE_SIZE = 20
B_PAGE_SIZE = 25
ROBOTS_TXT = "User-agent: *\nDisallow: /admin/\nDisallow: /annons/sok\n"
_SV_MONTHS = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


class DemoSite:
    """The two synthetic sites served from one local HTTP server.

    ``hits`` counts requests by request target (path plus ``?query`` when present),
    the same form as ``DemoAd.path``, so ``site.hits[ad.path]`` works for both sites.
    """

    def __init__(self, seed: int = 7, count: int = 360, anchor: date | None = None,
                 flaky: bool = True) -> None:
        # flaky=False serves every "flaky" ad at once: benchmarks measure the crawler, not backoff waits.
        self.flaky = flaky
        # Seconds every answer waits before it is sent: loopback answers in microseconds, a real
        # site in tens to hundreds of milliseconds; benchmarks set this to compare crawls fairly.
        self.latency = 0.0
        self.anchor: date = anchor or datetime.now(UTC).date()
        # The site's clock: None shows every ad; a day shows only the ads posted by then and
        # not yet expired, so stepping it day by day makes ads appear, leave, and travel.
        self.today: date | None = None
        # Or: every ad posted up to this day, none later (a crawl "a few days ago").
        self.until: date | None = None
        self.ads: list[DemoAd] = generate_ads(seed=seed, count=count, anchor=self.anchor)
        self.year = self.anchor.year  # for the "© YEAR" footers
        self.hits: Counter[str] = Counter()
        self.base_url: str = ""
        self._lock = threading.Lock()
        self._flaky_seen: set[str] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Listings are newest first; ties broken by id so order is total.
        newest = sorted(self.ads, key=lambda a: (a.posted_at, a.site_id), reverse=True)
        self.ads_a = [a for a in newest if a.site == SITE_A]
        self.ads_b = [a for a in newest if a.site == SITE_B]
        self._by_id: dict[tuple[str, int], DemoAd] = {(a.site, a.site_id): a for a in self.ads}
        towns = sorted({a.town for a in self.ads_a}, key=swedish_sort_key)
        self.town_slugs: dict[str, str] = {town_slug(t): t for t in towns}
        # The browser-rendered site and the social channels of the same synthetic world.
        self.js = JsClassifieds(self, seed=seed)
        self.channels = DemoChannels(self, seed=seed)

    # -- lifecycle ---------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("DemoSite already started")
        server = _Server((host, port), _Handler)
        server.site = self
        self._server = server
        self.base_url = f"http://{host}:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="demo-site", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- state shared by handler threads -----------------------------------

    def record_hit(self, target: str) -> None:
        with self._lock:
            self.hits[target] += 1

    def first_flaky_request(self, ad: DemoAd) -> bool:
        """True exactly once per flaky ad and server instance (that request gets 503)."""
        if not self.flaky:
            return False
        with self._lock:
            if ad.path in self._flaky_seen:
                return False
            self._flaky_seen.add(ad.path)
            return True

    def ad(self, site: str, site_id: int) -> DemoAd | None:
        ad = self._by_id.get((site, site_id))
        return ad if ad is not None and self.visible(ad) else None

    # -- the clock -----------------------------------------------------------

    def set_today(self, day: date | None) -> None:
        self.today = day

    def show_until(self, day: date | None) -> None:
        """Show every ad posted up to ``day`` and none after (None: all): the site as it was."""
        self.until = day

    @staticmethod
    def lifetime_days(ad: DemoAd) -> int:
        """How long an ad stays up: 5 to 30 days, fixed per ad."""
        return 5 + (ad.site_id * 7919) % 26

    def visible(self, ad: DemoAd) -> bool:
        if self.until is not None and ad.posted_at.date() > self.until:
            return False
        if self.today is None:
            return True
        posted = ad.posted_at.date()
        return posted <= self.today < posted + timedelta(days=self.lifetime_days(ad))

    def listed(self, which: str) -> list[DemoAd]:
        """The ads a listing shows today, newest first."""
        ads = self.ads_a if which == SITE_A else self.ads_b
        return ads if self.today is None and self.until is None else [a for a in ads if self.visible(a)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: DemoSite


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    def version_string(self) -> str:
        return "nginx"  # look like an ordinary site, not a Python test server

    def log_message(self, format: str, *args: object) -> None:
        pass  # silence per-request stderr lines; keeps test output clean

    def do_GET(self) -> None:
        site = self.server.site
        site.record_hit(self.path)
        if site.latency > 0:
            time.sleep(site.latency)
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        path = parts.path
        try:
            self._route(site, path, query)
        except BrokenPipeError:
            pass  # client hung up; nothing to answer

    def _route(self, site: DemoSite, path: str, query: dict[str, list[str]]) -> None:
        if path == "/robots.txt":
            self._send(200, ROBOTS_TXT, "text/plain; charset=utf-8")
        elif path == "/healthz":
            self._send(200, "ok", "text/plain; charset=utf-8")
        elif path == "/_clock":  # the demo's clock: ?day=YYYY-MM-DD moves it, ?day=off stops it
            self._clock(site, query.get("day", [""])[0])
        elif path == "/admin" or path.startswith("/admin/"):
            self._send(403, "<h1>403 Forbidden</h1>", "text/html; charset=utf-8")
        elif path == "/":
            self._send_a(200, _index_page(site))
        elif path in ("/annons", "/nl"):
            self._redirect(path + "/")
        elif path == "/annons/":
            self._send_a(200, _a_listing(site, site.listed(SITE_A), _page(query, "page"), "/annons/", None))
        elif path.startswith("/annons/stad/"):
            slug = path.removeprefix("/annons/stad/")
            town = site.town_slugs.get(slug)
            if town is None:
                self._not_found()
                return
            ads = [a for a in site.listed(SITE_A) if a.town == town]
            self._send_a(200, _a_listing(site, ads, _page(query, "page"), path, town))
        elif path.startswith("/annons/ad/"):
            self._detail(site, SITE_A, path.removeprefix("/annons/ad/"))
        elif path == "/annons/sok":
            self._send_a(200, _a_layout(site, "Sök", _A_SEARCH))
        elif path == "/annons/villkor":
            self._send_a(200, _a_layout(site, "Villkor", _A_TERMS))
        elif path.startswith("/img/") and path.endswith(".jpg"):  # the ads' photos: placeholders
            from adwatch.demo.images import placeholder_png

            self._send_bytes(200, placeholder_png(path), "image/png", {"Cache-Control": "max-age=3600"})
        elif path.startswith("/v/"):  # the JavaScript classifieds (adwatch/demo/jssite.py)
            site.js.route(self, path, query)
        elif path.startswith(("/s/", "/rss/")):  # the social channels (adwatch/demo/channel.py)
            site.channels.route(self, path, query)
        elif path == "/nl/":
            self._send_b(200, _b_listing(site, _page(query, "p")))
        elif path == "/nl/listing.php":
            self._detail(site, SITE_B, query.get("id", [""])[0])
        else:
            self._not_found()

    def _clock(self, site: DemoSite, day: str) -> None:
        if day:
            try:
                site.set_today(None if day == "off" else date.fromisoformat(day))
            except ValueError:
                self._send(400, f"not a day: {day!r}", "text/plain; charset=utf-8")
                return
        self._send(200, site.today.isoformat() if site.today else "off", "text/plain; charset=utf-8")

    def _detail(self, site: DemoSite, which: str, raw_id: str) -> None:
        ad = site.ad(which, int(raw_id)) if raw_id.isdigit() else None
        if ad is None or ad.status == "gone":
            self._not_found(which)
            return
        if ad.status == "flaky" and site.first_flaky_request(ad):
            self._send(503, "<h1>503 Service Temporarily Unavailable</h1>",
                       "text/html; charset=utf-8", {"Retry-After": "1"})
            return
        if which == SITE_A:
            self._send_a(200, _a_detail(site, ad))
        else:
            self._send_b(200, _b_detail(site, ad))

    # -- response helpers --------------------------------------------------

    def _not_found(self, which: str = SITE_A) -> None:
        if which == SITE_B:
            self._send_b(404, _b_layout(self.server.site, "Not found",
                                        "<p>This listing has been removed.</p>"))
        else:
            self._send_a(404, _a_layout(self.server.site, "Sidan finns inte",
                                        "<h1>Sidan finns inte</h1><p>Annonsen är borttagen "
                                        "eller har aldrig funnits.</p>"))

    def _redirect(self, location: str) -> None:
        self._send(301, "", "text/plain; charset=utf-8", {"Location": location})

    def _send_a(self, status: int, html: str) -> None:
        self._send(status, html, "text/html; charset=utf-8")

    def _send_b(self, status: int, html: str) -> None:
        # cp1252 like an old PHP site; what it cannot encode becomes &#NNNN;.
        body = html.encode("cp1252", errors="xmlcharrefreplace")
        self._send_bytes(status, body, "text/html; charset=windows-1252")

    def _send(self, status: int, text: str, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, text.encode("utf-8"), content_type, headers)

    def _send_bytes(self, status: int, body: bytes, content_type: str,
                    headers: dict[str, str] | None = None) -> None:
        if body and not content_type.startswith("image/") and _accepts_gzip(self.headers.get("Accept-Encoding")):
            # Like most sites: text is sent gzipped to a client that accepts it, so the crawler's
            # archive has to keep a compressed body as it came (tests check its digest). No "Vary":
            # the browser handler's asset cache (spiders/browser/assets.py) keeps no varying answer.
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers = {**(headers or {}), "Content-Encoding": "gzip"}
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header takes gzip (``gzip;q=0`` refuses it)."""
    for part in (header or "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "x-gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _page(query: dict[str, list[str]], name: str) -> int:
    raw = query.get(name, ["1"])[0]
    return max(1, int(raw)) if raw.isdigit() else 1  # junk page numbers mean page 1


# ---------------------------------------------------------------------------
# Site A: Annonsguiden (UTF-8, Swedish)

_A_COOKIE = (
    '<div id="cookie-banner" class="cookie-banner"><p>Vi använder kakor (cookies) för att '
    "webbplatsen ska fungera och för att föra statistik. Genom att fortsätta surfa godkänner "
    'du detta.</p><button type="button">Jag förstår</button></div>'
)
_A_SEARCH = (
    '<h1>Sök annonser</h1><form action="/annons/sok" method="get">'
    '<input type="text" name="q" placeholder="Sökord eller stad"><button>Sök</button></form>'
)
_A_TERMS = (
    "<h1>Villkor</h1><p>Annonsören intygar att hen är över 18 år och annonserar av egen fri "
    "vilja. Annonser som bryter mot villkoren tas bort.</p>"
)


def _a_layout(site: DemoSite, title: str, main: str, *, malformed: bool = False) -> str:
    amp = "&" if malformed else "&amp;"  # malformed pages carry a raw ampersand
    footer = (
        f'<footer class="site-footer"><p>Annonsguiden © {site.year}</p>'
        "<p>Alla annonsörer intygar att de är över 18 år. Annonsguiden ansvarar inte för "
        f"annonsernas innehåll. Massage {amp} sällskap sedan 2009.</p>"
        '<p><a href="/annons/villkor">Villkor</a></p></footer>'
    )
    end = "" if malformed else "\n</body>\n</html>\n"  # broken pages just stop
    return (
        '<!DOCTYPE html>\n<html lang="sv">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)} | Annonsguiden</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "</head>\n<body>\n"
        '<header class="site-header"><a class="logo" href="/annons/">Annonsguiden</a>'
        '<p class="tagline">Sveriges guide till massage och sällskap</p>'
        '<ul class="menu"><li><a href="/annons/">Alla annonser</a></li>'
        '<li><a href="/annons/sok">Sök</a></li></ul></header>\n'
        f"{_A_COOKIE}\n<main>\n{main}\n</main>\n{footer}{end}"
    )


def _a_listing(site: DemoSite, ads: list[DemoAd], page: int, base: str,
               town: str | None) -> str:
    pages = max(1, -(-len(ads) // A_PAGE_SIZE))
    shown = ads[(page - 1) * A_PAGE_SIZE: page * A_PAGE_SIZE]
    nav = "".join(f'<a href="/annons/stad/{slug}">{escape(name)}</a>\n'
                  for slug, name in site.town_slugs.items())
    cards = "".join(
        f'<article class="ad-card"><a class="ad-link" href="{a.path}">{escape(a.title)}</a>'
        f'<span class="card-town">{escape(a.town)}</span></article>\n'
        for a in shown
    )
    links = []
    if page > 1:
        prev = base if page == 2 else f"{base}?page={page - 1}"
        links.append(f'<a class="prev" rel="prev" href="{prev}">« Föregående</a>')
    if page < pages:
        links.append(f'<a class="next" rel="next" href="{base}?page={page + 1}">Nästa »</a>')
    heading = f"Annonser i {escape(town)}" if town else "Senaste annonserna"
    main = (
        f'<nav class="towns">\n{nav}</nav>\n'
        f'<h1>{heading}</h1>\n<p class="page-info">Sida {page} av {pages}</p>\n'
        f'<section class="ads">\n{cards}</section>\n'
        f'<div class="pager">{" ".join(links)}</div>'
    )
    return _a_layout(site, heading, main)


def _a_body(text: str, malformed: bool) -> str:
    if not text:
        return ""
    paras = []
    for para in text.split("\n\n"):
        esc = escape(para, quote=False)
        if malformed:
            esc = esc.replace("&amp;", "&")  # raw "&" the way sloppy templates leave it
        paras.append(esc.replace("\n", "<br>"))
    if malformed:
        return "".join(f"<p>{p}\n" for p in paras)  # paragraphs never closed
    return "".join(f"<p>{p}</p>" for p in paras)


def _a_detail(site: DemoSite, ad: DemoAd) -> str:
    local = ad.posted_at.astimezone(STOCKHOLM)
    shown = f"{local.day} {_SV_MONTHS[local.month - 1]} {local:%H:%M}"
    title = escape(ad.title).replace("&amp;", "&") if ad.malformed else escape(ad.title)
    meta = [
        f'<time class="posted" datetime="{local.isoformat()}">{shown}</time>',
        f'<span class="location">{escape(ad.town)}</span>',
        f'<span class="poster">{escape(ad.poster)}</span>',
    ]
    if ad.age is not None:
        meta.append(f'<span class="age">{ad.age} år</span>')
    if ad.price:
        meta.append(f'<span class="price">{escape(ad.price)}</span>')
    if ad.phone_field:
        meta.append(f'<span class="phone">{escape(ad.phone_field)}</span>')
    imgs = "".join(f'<img src="{src}" alt="Bild {i}">' for i, src in enumerate(ad.images, 1))
    slug = town_slug(ad.town)
    promo = '<div class="promo"><b>Toppannons!</div>\n' if ad.malformed else ""  # misnested
    stray = "</div></span>\n" if ad.malformed else ""
    main = (
        f'<nav class="crumbs"><a href="/annons/">Annonser</a> › '
        f'<a href="/annons/stad/{slug}">{escape(ad.town)}</a></nav>\n{promo}'
        f'<article class="ad-detail" id="ad-{ad.site_id}">\n'
        f'<h1 class="ad-title">{title}</h1>\n'
        f'<div class="ad-meta">\n' + "\n".join(meta) + "\n</div>\n"
        f'<div class="ad-body">{_a_body(ad.text, ad.malformed)}</div>\n'
        f'<div class="gallery">{imgs}</div>\n{stray}'
        f'<p class="ad-id">Annons-id {ad.site_id}</p>\n</article>\n'
        '<aside class="safety"><h2>Tänk på</h2><p>Betala aldrig något i förskott och '
        "lämna inte ut personlig information. Misstänker du att någon far illa? "
        "Kontakta polisen.</p></aside>"
    )
    return _a_layout(site, ad.title, main, malformed=ad.malformed)


# ---------------------------------------------------------------------------
# Site B: Nightlist (windows-1252, English/Swedish, table layout)

def _b_layout(site: DemoSite, title: str, main: str, *, malformed: bool = False) -> str:
    amp = "&" if malformed else "&amp;"
    end = "" if malformed else "</body>\n</html>\n"
    return (
        "<html>\n<head>\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">\n'
        f"<title>{escape(title)} - Nightlist Sweden</title>\n</head>\n"
        '<body bgcolor="#111111" text="#dddddd">\n'
        f'<div id="top"><a href="/nl/"><b>NIGHTLIST</b></a> · Escorts {amp} massage in Sweden'
        " · Annonser för vuxna</div>\n"
        '<div id="warn">You must be 18+ to enter. Du måste vara över 18 år.</div>\n'
        f"{main}\n"
        f'<div id="foot">© {site.year} Nightlist. All ads are posted by users, '
        f"we take no responsibility for their content.</div>\n{end}"
    )


def _b_listing(site: DemoSite, page: int) -> str:
    ads = site.listed(SITE_B)
    pages = max(1, -(-len(ads) // B_PAGE_SIZE))
    shown = ads[(page - 1) * B_PAGE_SIZE: page * B_PAGE_SIZE]
    rows = "".join(
        f'<tr class="row"><td class="t"><a href="{a.path}">{escape(a.title)}</a></td>'
        f'<td class="c">{escape(a.town)}</td>'
        f'<td class="d">{a.posted_at.astimezone(STOCKHOLM):%Y-%m-%d}</td></tr>\n'
        for a in shown
    )
    pager = f'<a class="pager-next" href="/nl/?p={page + 1}">Next »</a>' if page < pages else ""
    main = (
        f"<h1>Latest ads</h1>\n<p>Page {page} of {pages}</p>\n"
        '<table class="listing">\n<tr class="head"><th>Title</th><th>City</th><th>Date</th></tr>\n'
        f'{rows}</table>\n<div class="pager">{pager}</div>'
    )
    return _b_layout(site, "Latest ads", main)


def _b_detail(site: DemoSite, ad: DemoAd) -> str:
    local = ad.posted_at.astimezone(STOCKHOLM)
    facts = [("City", ad.town), ("Posted", f"{local:%Y-%m-%d %H:%M}"), ("Name", ad.poster),
             ("Age", "" if ad.age is None else str(ad.age)), ("Rate", ad.price),
             ("Phone", ad.phone_field)]
    dl = "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in facts if v)
    descr = escape(ad.text, quote=False)
    title = escape(ad.title)
    if ad.malformed:
        descr = descr.replace("&amp;", "&")
        title = title.replace("&amp;", "&")
    descr = descr.replace("\n", "<br>")
    imgs = "".join(f'<img src="{src}">' for src in ad.images)
    promo = '<font color="red"><b>HOT!</font>\n' if ad.malformed else ""  # misnested on purpose
    stray = "</div></td>\n" if ad.malformed else ""
    main = (
        f'{promo}<div id="listing"><h2>{title}</h2>\n'
        f'<dl class="facts">{dl}</dl>\n'
        f'<div class="descr">{descr}</div>\n'
        f'<div class="pics">{imgs}</div></div>\n{stray}'
        '<p class="back"><a href="/nl/">« Back to listings</a></p>'
    )
    return _b_layout(site, ad.title, main, malformed=ad.malformed)


def _index_page(site: DemoSite) -> str:
    main = ('<h1>Demo</h1><ul><li><a href="/annons/">Annonsguiden</a></li>'
            '<li><a href="/nl/">Nightlist</a></li></ul>'
            "<p>All content on this server is synthetic.</p>")
    return _a_layout(site, "Demo", main)


# ---------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the synthetic classifieds demo site.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--count", type=int, default=360)
    parser.add_argument("--anchor", type=date.fromisoformat, default=None,
                        help="newest posting date is the day before (YYYY-MM-DD, default today)")
    args = parser.parse_args(argv)
    site = DemoSite(seed=args.seed, count=args.count, anchor=args.anchor)
    url = site.start(args.host, args.port)
    # First stderr line is the bare base URL so scripts can pick it up.
    print(url, file=sys.stderr, flush=True)
    print(f"serving {len(site.ads)} synthetic ads at {url}/annons/ and {url}/nl/; Ctrl-C stops",
          file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
