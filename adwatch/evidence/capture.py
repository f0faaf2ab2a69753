"""Archive every page while crawling, and stamp each Ad with the records it was read from.

Two Scrapy components, both off when ``ADWATCH_EVIDENCE`` is (``NotConfigured``):

- ``EvidenceCapture``, a downloader middleware at 950 (``config/settings.py``): above
  HttpCompressionMiddleware (590) and RedirectMiddleware (600), so its ``process_response`` —
  which runs from the downloader outwards, high numbers first — sees every answer as it came off
  the wire, redirects and error pages included, with a gzip/br body still compressed. It writes a
  ``response`` and a ``request`` record (``archive.py``) and puts the references in
  ``request.meta[EVIDENCE]`` (a ``Captured``). robots.txt goes through it too.
  A page rendered by the browser handler (``spiders/browser/handler.py``, flag "playwright") is
  not the server's answer: the handler collected the main document as Chromium received it (and a
  screenshot when the source asks) in ``request.meta[BROWSER_CAPTURE]``; this writes that as the
  ``response``, the rendered DOM as a ``resource`` record (``urn:adwatch:rendered:<url>``) and the
  screenshot as another (``urn:adwatch:screenshot:<url>``).
- ``EvidenceStamp``, a spider middleware: every ``Ad`` a callback yields for a response gets that
  response's references in ``ad.evidence`` (``refs.evidence_block``, merged: ``truncated`` stays).

A page that cannot be archived (disk full, folder unwritable) is still crawled and its ads
stored, without a reference: one error line, and ``adwatch/evidence/not_archived`` counts it
(the crawl-run recorder then calls the run ``partial``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Headers, Response
from scrapy.statscollectors import StatsCollector

from adwatch.core.clock import now_iso
from adwatch.evidence.archive import DECODED_HEADER, ArchiveError, RecordSpec, WarcArchive, http_head
from adwatch.evidence.refs import ArchivePlace, RecordRef, evidence_block
from spiders.items import Ad

logger = logging.getLogger(__name__)

EVIDENCE = "adwatch_evidence"  # request.meta: the Captured records of this request's answer
BROWSER_CAPTURE = "adwatch_browser_capture"  # request.meta: what the browser handler collected
RENDERED_PREFIX = "urn:adwatch:rendered:"
SCREENSHOT_PREFIX = "urn:adwatch:screenshot:"
_MB = 1024 * 1024


@dataclass(frozen=True)
class Captured:
    """The records of one answer: the response record, then request / resource / screenshot."""

    response: RecordRef
    related: tuple[RecordRef, ...] = ()

    def block(self) -> dict[str, Any]:
        return evidence_block(self.response, list(self.related))


@dataclass
class BrowserCapture:
    """The browser handler's view of a rendered page: the main document as Chromium received it
    (its body decoded by Chromium), the request it sent, and a PNG screenshot if asked for."""

    url: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    method: str = "GET"
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes = b""
    screenshot: bytes | None = None


def _text(value: bytes | str) -> str:
    # Latin-1 keeps every byte as one character (warcio %-encodes what is not ASCII).
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    return [(_text(name), _text(value)) for name, values in headers.items() for value in values]


def _status_line(status: int, reason: str | None = None) -> str:
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}".rstrip() if reason else str(status)


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _with_host(url: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Scrapy's HTTP/1.1 client adds Host on the wire; the request record should show it.
    if any(name.lower() == "host" for name, _ in headers):
        return headers
    return [("Host", urlsplit(url).netloc), *headers]


def exchange_records(url: str, date: str, *, status: int, reason: str | None, protocol: str,
                     headers: Sequence[tuple[str, str]], body: bytes, method: str,
                     request_headers: Sequence[tuple[str, str]], request_body: bytes,
                     decoded: Sequence[str] = (), truncated: bool = False,
                     ip_address: str | None = None) -> list[RecordSpec]:
    """The response record and its request record (WARC-Concurrent-To the response).

    ``decoded`` names what of the sent bytes the body no longer has ("transfer-encoding": Scrapy
    de-chunked it; "content-encoding": Chromium unpacked it); the headers that would make a reader
    undo it again are left out of the archived head and the WARC header says so."""
    dropped = {"transfer-encoding"} if "transfer-encoding" in decoded else set()
    if "content-encoding" in decoded:
        dropped |= {"content-encoding", "content-length"}
    kept = [(name, value) for name, value in headers if name.lower() not in dropped]
    warc_headers: dict[str, str] = {}
    if decoded:
        warc_headers[DECODED_HEADER] = ", ".join(decoded)
    if truncated:
        warc_headers["WARC-Truncated"] = "disconnect"
    if ip_address:
        warc_headers["WARC-IP-Address"] = ip_address
    response = RecordSpec("response", url, body, date, http=http_head(_status_line(status, reason), protocol, kept),
                          headers=warc_headers)
    # Scrapy's client and Chromium's both speak HTTP/1.1 here, whatever the server answers.
    sent = http_head(f"{method} {_target(url)} HTTP/1.1", "", _with_host(url, list(request_headers)))
    request = RecordSpec("request", url, request_body, date, http=sent,
                         headers={"WARC-Concurrent-To": response.record_id}, ref_type="request")
    return [response, request]


def http_records(request: Request, response: Response, date: str) -> list[RecordSpec]:
    """An answer of Scrapy's own HTTP handler: the body as it came (still compressed)."""
    headers = _pairs(response.headers)
    chunked = any(name.lower() == "transfer-encoding" and "chunked" in value.lower() for name, value in headers)
    return exchange_records(
        response.url, date, status=response.status, reason=None, protocol=response.protocol or "HTTP/1.1",
        headers=headers, body=response.body, method=request.method, request_headers=_pairs(request.headers),
        request_body=request.body, decoded=("transfer-encoding",) if chunked else (),
        truncated="dataloss" in response.flags,
        ip_address=str(response.ip_address) if response.ip_address is not None else None)


def browser_records(capture: BrowserCapture | None, response: Response, date: str) -> list[RecordSpec]:
    """A rendered page: the main document (decoded by Chromium, so marked), its request, the rendered
    DOM as a resource, and the screenshot. Without the main document (the handler could not read
    it) the rendered DOM is the only record and the ad's reference points to it."""
    records: list[RecordSpec] = []
    if capture is not None:
        encoded = any(name.lower() == "content-encoding" and value.strip().lower() not in ("", "identity")
                      for name, value in capture.headers)
        records = exchange_records(
            capture.url, date, status=capture.status, reason=capture.reason, protocol="HTTP/1.1",
            headers=capture.headers, body=capture.body, method=capture.method,
            request_headers=capture.request_headers, request_body=capture.request_body,
            decoded=("content-encoding",) if encoded else ())
    concurrent = {"WARC-Concurrent-To": records[0].record_id} if records else {}
    charset = response.encoding if hasattr(response, "encoding") else "utf-8"
    rendered = RecordSpec("resource", RENDERED_PREFIX + response.url, response.body, date,
                          content_type=f"text/html; charset={charset}", headers=dict(concurrent),
                          ref_type="resource")
    records.append(rendered)
    if capture is not None and capture.screenshot:
        records.append(RecordSpec("resource", SCREENSHOT_PREFIX + response.url, capture.screenshot, date,
                                  content_type="image/png", headers=dict(concurrent), ref_type="screenshot"))
    return records


class EvidenceCapture:
    """Downloader middleware: every answer → WARC records; their references → ``request.meta``.

    It writes in the reactor's thread: an answer's records cost about a third of a millisecond
    (bench/evidence_bench.py), and a writer thread measured slower — its Python half (warcio's
    record building) holds the GIL, and the reactor then waits on it at every switch interval."""

    def __init__(self, archive: WarcArchive, stats: StatsCollector) -> None:
        self.archive = archive
        self.stats = stats
        self._failed = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EvidenceCapture:
        settings = crawler.settings
        if not settings.getbool("ADWATCH_EVIDENCE"):
            raise NotConfigured
        assert crawler.stats is not None
        src = getattr(crawler.spider, "src", None)
        if src is None:  # not a source spider (the bench's bare one): nothing adwatch keeps
            raise NotConfigured
        source = str(src.name)
        archive = WarcArchive(ArchivePlace.from_settings(settings), source,
                              int(settings.getfloat("ADWATCH_EVIDENCE_WARC_MB") * _MB),
                              compresslevel=settings.getint("ADWATCH_EVIDENCE_GZIP_LEVEL"))
        middleware = cls(archive, crawler.stats)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_closed(self) -> None:
        try:
            self.archive.close()
        except OSError as exc:
            self._fail("closing the archive file", exc)
        self.stats.set_value("adwatch/evidence/files", len(self.archive.files))
        self.stats.set_value("adwatch/evidence/bytes", self.archive.bytes_written)

    def _fail(self, what: str, exc: Exception) -> None:
        self.stats.inc_value("adwatch/evidence/not_archived")
        # A full disk or a missing folder is told as is; anything else by its type too (a defect to fix).
        reason = str(exc) if isinstance(exc, ArchiveError) else f"{type(exc).__name__}: {exc}"
        if not self._failed:  # one line per crawl; the count says how many more
            self._failed = True
            logger.error("evidence: %s could not be archived (%s); the crawl goes on, its ads without an "
                         "evidence reference (adwatch/evidence/not_archived counts them)", what, reason)
        else:
            logger.debug("evidence: %s could not be archived (%s)", what, reason)

    def process_response(self, request: Request, response: Response) -> Response:
        captured = request.meta.pop(BROWSER_CAPTURE, None)
        browser = captured if isinstance(captured, BrowserCapture) else None
        if not response.url.startswith(("http:", "https:")):
            request.meta.pop(EVIDENCE, None)
            return response
        date = now_iso()
        try:
            if "playwright" in response.flags:
                specs = browser_records(browser, response, date)
            else:
                specs = http_records(request, response, date)
            refs = self.archive.write(specs)
        except Exception as exc:  # noqa: BLE001 - a page the archive cannot keep is still crawled
            request.meta.pop(EVIDENCE, None)  # never the records of an earlier try (a retry, a redirect)
            self._fail(response.url, exc)
            return response
        self.stats.inc_value("adwatch/evidence/records", len(refs))
        # Set here, not at the end: the crawl-run recorder may read the stats before spider_closed reaches us.
        self.stats.set_value("adwatch/evidence/bytes", self.archive.bytes_written)
        self.stats.set_value("adwatch/evidence/files", len(self.archive.files))
        request.meta[EVIDENCE] = Captured(refs[0], tuple(refs[1:]))
        return response


class EvidenceStamp:
    """Spider middleware: each ``Ad`` a callback yields carries its page's records in ``evidence``."""

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EvidenceStamp:
        if not crawler.settings.getbool("ADWATCH_EVIDENCE"):
            raise NotConfigured
        assert crawler.stats is not None
        return cls(crawler.stats)

    def _stamp(self, response: Response, out: Any) -> Any:
        if isinstance(out, Ad):
            captured = response.meta.get(EVIDENCE) if response.request is not None else None
            if isinstance(captured, Captured):
                out.evidence = {**(out.evidence or {}), **captured.block()}
            else:
                self.stats.inc_value("adwatch/evidence/ad_without_ref")
        return out

    # Both forms, like spiders/incremental.py: the source spiders' callbacks are plain generators.
    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterator[Any]:
        for out in result:
            yield self._stamp(response, out)

    async def process_spider_output_async(self, response: Response, result: AsyncIterator[Any]
                                          ) -> AsyncIterator[Any]:
        async for out in result:
            yield self._stamp(response, out)
