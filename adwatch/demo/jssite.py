"""Velvet, the JavaScript classifieds of the demo world (everything under /v/).

The HTML pages are empty shells: the listing arrives as JSON batches (``fetch``, infinite
scroll, a "Visa fler" button), a detail page renders its ad from JSON, and the phone number
is only revealed by a button that asks for it (XHR). Some detail APIs answer slowly; test
hooks serve a hung renderer and a response that never seems to come. The script is the
static asset ``velvet.js``; the ads come from ``velvet_ads.py``.

Routes (the contract the browser source is built against):
  GET /v/                       listing shell
  GET /v/app.js                 the script (listing and detail)
  GET /v/api/ads?offset&limit   {"ads": [{"id", "title", "town", "posted"}], "total", "next"}
  GET /v/ad/<id>                detail shell (404 page when the ad is unknown, gone or not up)
  GET /v/api/ad/<id>            {"id", "title", "text", "town", "posted", "poster", "age",
                                 "price", "images", "has_phone"}
  GET /v/api/ad/<id>/phone      {"phone": <the ad's phone field>} (404 without one)
  GET /v/img/<anything>         a 1x1 PNG
  GET /v/test/hang              a page whose script never returns
  GET /v/test/slow              held ``hold_seconds`` (30 s) before it answers
"""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib
from functools import cache
from html import escape
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from adwatch.demo.generator import SITE_A, STOCKHOLM, DemoAd
from adwatch.demo.velvet_ads import SITE_V, derive_ads, hostile_ids, slow_ids

if TYPE_CHECKING:
    from collections.abc import Sequence

    from adwatch.demo.server import DemoSite

__all__ = ["SITE_V", "JsClassifieds"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_HTML = "text/html; charset=utf-8"
_JSON = "application/json; charset=utf-8"


class JsClassifieds:
    """The Velvet site of one ``DemoSite``; ``route`` answers every path under /v/.

    ``ads`` is the ground truth, newest first (``DemoAd`` with site "velvet", ``site_id`` the
    Velvet id, ``phones`` the numbers it carries, ``phone_field`` what the button reveals).
    """

    # Seconds a slow ad's detail API waits before it answers; tests and benches set 0.
    slow_delay: float = 1.5
    # Seconds /v/test/slow holds its answer (ended early when the server stops).
    hold_seconds: float = 30.0

    def __init__(self, site: DemoSite, seed: int = 7, count: int | None = None,
                 source: Sequence[DemoAd] | None = None) -> None:
        """``count`` ads (default: as many as site A), or ``source`` relabelled as Velvet's."""
        self.site = site
        self.seed = seed
        n = len([a for a in site.ads if a.site == SITE_A]) if count is None else count
        self.ads: list[DemoAd] = derive_ads(site.ads, seed=seed, count=n, anchor=site.anchor,
                                            source=source)
        self._by_id: dict[int, DemoAd] = {a.site_id: a for a in self.ads}
        self.slow_ids: frozenset[int] = slow_ids(self.ads, seed)
        # kind ("markup", "controls", "huge") -> id of the ad carrying it
        self.hostile_ids: dict[str, int] = hostile_ids(self.ads)
        # Detail shells of these ids serve the hung renderer instead (for crawl-level tests).
        self.hang_ids: set[int] = set()
        world = {p for a in site.ads for p in a.phones}
        self.shared_phones: frozenset[str] = frozenset(
            p for a in self.ads for p in a.phones if p in world)
        self._lock = threading.Lock()
        self.held = 0  # requests that were held back (slow ads, /v/test/slow), for tests

    # -- what is up ----------------------------------------------------------

    def listed(self) -> list[DemoAd]:
        """The ads the listing shows under the site's clock, newest first (gone ones too,
        as a listing lags behind removals: their pages answer 404)."""
        return [a for a in self.ads if self.site.visible(a)]

    def ad(self, raw_id: str) -> DemoAd | None:
        """The ad behind an id from a URL if it is up (known, visible and not gone)."""
        if not raw_id.isdigit() or len(raw_id) > 12:
            return None
        ad = self._by_id.get(int(raw_id))
        if ad is None or ad.status == "gone" or not self.site.visible(ad):
            return None
        return ad

    # -- routing -------------------------------------------------------------

    def route(self, handler: Any, path: str, query: dict[str, list[str]]) -> None:
        try:
            self._route(handler, path, query)
        except ConnectionError:
            pass  # the browser gave up on this page (timeouts, blocked, closed): nothing to say

    def _route(self, handler: Any, path: str, query: dict[str, list[str]]) -> None:
        if path == "/v/":
            handler._send(200, _LISTING_SHELL, _HTML)
        elif path == "/v/app.js":  # cacheable for an hour, as a real site's script bundle is
            handler._send(200, _script(), "application/javascript; charset=utf-8",
                          {"Cache-Control": "public, max-age=3600"})
        elif path == "/v/api/ads":
            _send_json(handler, 200, self._batch(query))
        elif path.startswith("/v/api/ad/"):
            self._api_ad(handler, path.removeprefix("/v/api/ad/"))
        elif path.startswith("/v/ad/"):
            raw = path.removeprefix("/v/ad/")
            if raw.isdigit() and int(raw) in self.hang_ids:
                handler._send(200, _HANG_PAGE, _HTML)
            elif self.ad(raw) is None:
                handler._send(404, _NOT_FOUND_PAGE, _HTML)
            else:
                handler._send(200, _DETAIL_SHELL, _HTML)
        elif path.startswith("/v/img/"):
            handler._send_bytes(200, _PIXEL_PNG, "image/png", {"Cache-Control": "max-age=3600"})
        elif path == "/v/test/hang":
            handler._send(200, _HANG_PAGE, _HTML)
        elif path == "/v/test/slow":
            if self._hold(handler, self.hold_seconds):
                handler._send(200, _page("Långsam", "<p>Äntligen.</p>"), _HTML)
        else:
            handler._send(404, _NOT_FOUND_PAGE, _HTML)

    def _batch(self, query: dict[str, list[str]]) -> dict[str, object]:
        ads = self.listed()
        offset = _int_param(query, "offset", 0, 0, len(ads))
        limit = _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        end = offset + limit
        return {
            "ads": [{"id": a.site_id, "title": a.title, "town": a.town, "posted": _iso(a)}
                    for a in ads[offset:end]],
            "total": len(ads),
            "next": end if end < len(ads) else None,
        }

    def _api_ad(self, handler: Any, rest: str) -> None:
        raw, _, tail = rest.partition("/")
        ad = self.ad(raw)
        if ad is None or tail not in ("", "phone"):
            _send_json(handler, 404, {"error": "not found"})
        elif tail == "phone":
            if ad.phone_field:
                _send_json(handler, 200, {"phone": ad.phone_field})
            else:
                _send_json(handler, 404, {"error": "no phone"})
        else:
            if ad.site_id in self.slow_ids and self.slow_delay > 0:
                if not self._hold(handler, self.slow_delay):
                    return  # the server is stopping
            _send_json(handler, 200, {
                "id": ad.site_id, "title": ad.title, "text": ad.text, "town": ad.town,
                "posted": _iso(ad), "poster": ad.poster, "age": ad.age, "price": ad.price,
                "images": list(ad.images), "has_phone": bool(ad.phone_field),
            })

    def _hold(self, handler: Any, seconds: float) -> bool:
        """Wait ``seconds``; False as soon as the server stops (shutdown never waits on us)."""
        with self._lock:
            self.held += 1
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if handler.server.socket.fileno() < 0:  # server_close() ran
                return False
            time.sleep(min(0.05, left))
        return True


# ---------------------------------------------------------------------------
# Responses

def _send_json(handler: Any, status: int, data: object) -> None:
    # "<", ">" and "&" escaped, so the JSON stays inert even if something renders it as HTML.
    text = json.dumps(data, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    handler._send(status, text, _JSON, {"Cache-Control": "no-store"})


def _int_param(query: dict[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name, [""])[0]
    value = int(raw) if raw.isdigit() and len(raw) <= 9 else default  # junk means the default
    return min(hi, max(lo, value))


def _iso(ad: DemoAd) -> str:
    return ad.posted_at.astimezone(STOCKHOLM).isoformat()


@cache
def _script() -> str:
    return files("adwatch.demo").joinpath("velvet.js").read_text(encoding="utf-8")


def _png_pixel() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixel = zlib.compress(b"\x00\x99\x33\x66")  # filter byte + one plum pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixel) + chunk(b"IEND", b"")


_PIXEL_PNG = _png_pixel()

_STYLE = (
    "<style>body{font-family:sans-serif;margin:0;background:#1b1020;color:#f3e9f5}"
    "header,main{max-width:46rem;margin:0 auto;padding:1rem}"
    ".logo{color:#f7b2d9;font-size:1.6rem;text-decoration:none}"
    ".card{display:block;min-height:4rem;margin:.5rem 0;padding:.75rem;background:#2b1a33}"
    ".card a{color:#fff}.town{display:block;color:#d9c2e0}"
    ".ad .body p{white-space:pre-line}.photos img{width:8rem;height:8rem;margin:.25rem}"
    "button{font-size:1rem;padding:.5rem 1rem}</style>"
)


def _page(title: str, main: str, script: bool = False) -> str:
    tail = '<script src="/v/app.js"></script>\n' if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="sv">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)} | Velvet</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{_STYLE}\n</head>\n<body>\n"
        '<header class="site-header"><a class="logo" href="/v/">Velvet</a>'
        '<p class="tagline">Massage och sällskap i hela Sverige</p></header>\n'
        f"<main>\n{main}\n</main>\n{tail}</body>\n</html>\n"
    )


_LISTING_SHELL = _page("Senaste annonserna", (
    "<h1>Senaste annonserna</h1>\n"
    '<div id="ads" class="ads"></div>\n'
    '<div id="sentinel"></div>\n'
    '<button id="load-more" class="load-more" type="button">Visa fler</button>\n'
    '<p class="end" hidden>Inga fler annonser</p>\n'
    "<noscript>Slå på JavaScript för att se annonserna.</noscript>"
), script=True)

_DETAIL_SHELL = _page("Annons", (
    '<nav class="crumbs"><a href="/v/">Alla annonser</a></nav>\n<div id="ad"></div>\n'
    "<noscript>Slå på JavaScript för att se annonsen.</noscript>"
), script=True)

_NOT_FOUND_PAGE = _page("Sidan finns inte", (
    "<h1>Sidan finns inte</h1><p>Annonsen är borttagen eller har aldrig funnits.</p>"
))

# A renderer that never comes back: the load handler spins forever.
_HANG_PAGE = (
    '<!DOCTYPE html>\n<html lang="sv">\n<head>\n<meta charset="utf-8">\n'
    "<title>Hang | Velvet</title>\n</head>\n<body>\n<div id=\"ad\"></div>\n"
    "<script>window.addEventListener('load', function () { while (true) {} });</script>\n"
    "</body>\n</html>\n"
)

