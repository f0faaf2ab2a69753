"""A small evidence archive and ads pointing into it, written with warcio in the crawl-time layout
(``adwatch/evidence/refs.py``): gzip member per record, a ``warcinfo`` record first, then per page a
``request`` and a ``response`` record (the body as the server sent it, gzip-encoded bodies kept
encoded), and for browser pages a ``resource`` record of the rendered DOM and a PNG screenshot
``resource``; block and payload digests as ``sha256:`` (base32, as warcio writes its own).

Independent of the archive writer's module names on purpose: the case files and the verifier
depend on the WARC layout and the references only.
"""

from __future__ import annotations

import gzip
import io
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from adwatch.evidence.refs import ArchivePlace, RecordRef, evidence_block

# Synthetic numbers from the ranges reserved for fiction (070-1740605…699, 08-46500400…499).
PHONE_A = "+46701740611"
PHONE_B = "+46846500412"
# A one-pixel PNG: what a screenshot record holds here.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


class Sha256Writer(WARCWriter):
    """warcio's writer with SHA-256 block and payload digests (its default is SHA-1)."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


@dataclass
class Page:
    url: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    gzip_body: bool = False  # sent with Content-Encoding: gzip (the record keeps it compressed)
    dom: str | None = None  # a browser page: the rendered DOM
    screenshot: bytes | None = None
    status: str = "200 OK"
    sent: bytes = field(init=False, default=b"")  # the payload as the server sent it


def _record(writer: WARCWriter, fh: BinaryIO, place: ArchivePlace, path: Path, record: Any,
            type_: str) -> RecordRef:
    start = fh.tell()
    writer.write_record(record)
    fh.flush()
    length = fh.tell() - start
    headers = record.rec_headers
    digest = headers.get_header("WARC-Payload-Digest") or headers.get_header("WARC-Block-Digest")
    from adwatch.evidence.verify_records import decode_digest

    decoded = decode_digest(digest)
    assert decoded is not None
    return RecordRef(warc=place.relative(path), offset=start, length=length,
                     record_id=headers.get_header("WARC-Record-ID"), sha256=decoded[1].hex(),
                     fetched_at=headers.get_header("WARC-Date"), url=headers.get_header("WARC-Target-URI"),
                     type=type_)


def write_warc(place: ArchivePlace, name: str, pages: list[Page], when: str = "2026-11-28T10:00:00Z"
               ) -> list[dict[str, Any]]:
    """One WARC file under the archive's ``warc/`` folder; the evidence block of each page, in order."""
    path = place.warc_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks: list[dict[str, Any]] = []
    with open(path, "wb") as fh:
        writer = Sha256Writer(fh, gzip=True, warc_version="WARC/1.1")
        writer.write_record(writer.create_warcinfo_record(
            path.name, {"software": "adwatch tests", "format": "WARC File Format 1.1",
                        "description": "synthetic evidence fixture"}))
        for page in pages:
            page.sent = gzip.compress(page.body, mtime=0) if page.gzip_body else page.body
            headers = [("Content-Type", page.content_type), ("Content-Length", str(len(page.sent)))]
            if page.gzip_body:
                headers.append(("Content-Encoding", "gzip"))
            parts = page.url.split("/", 3)
            request = writer.create_warc_record(
                page.url, "request", payload=io.BytesIO(b""), length=0,
                http_headers=StatusAndHeaders(f"GET /{parts[3] if len(parts) > 3 else ''} HTTP/1.1",
                                              [("Host", parts[2]), ("Accept-Encoding", "gzip")], is_http_request=True),
                warc_headers_dict={"WARC-Date": when})
            response = writer.create_warc_record(
                page.url, "response", payload=io.BytesIO(page.sent), length=len(page.sent),
                http_headers=StatusAndHeaders(page.status, headers, protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": when})
            response.rec_headers.add_header("WARC-Concurrent-To", request.rec_headers.get_header("WARC-Record-ID"))
            related = [_record(writer, fh, place, path, request, "request")]
            ref = _record(writer, fh, place, path, response, "response")
            if page.dom is not None:
                dom = writer.create_warc_record(f"urn:dom:{page.url}", "resource",
                                                payload=io.BytesIO(page.dom.encode()), length=len(page.dom.encode()),
                                                warc_content_type="text/html; charset=utf-8",
                                                warc_headers_dict={"WARC-Date": when,
                                                                   "WARC-Concurrent-To": ref.record_id})
                related.append(_record(writer, fh, place, path, dom, "resource"))
            if page.screenshot is not None:
                shot = writer.create_warc_record(f"urn:screenshot:{page.url}", "resource",
                                                 payload=io.BytesIO(page.screenshot), length=len(page.screenshot),
                                                 warc_content_type="image/png",
                                                 warc_headers_dict={"WARC-Date": when,
                                                                    "WARC-Concurrent-To": ref.record_id})
                related.append(_record(writer, fh, place, path, shot, "screenshot"))
            blocks.append(evidence_block(ref, related))
    return blocks


def make_ad(ad_id: str, url: str, evidence: dict[str, Any] | None, title: str, text: str,
            phones: list[str], seen: str = "2026-11-28T10:00:00Z", content_hash: str | None = None) -> dict[str, Any]:
    return {"id": ad_id, "source": "fixture", "url": url, "title": title, "text": text,
            "posted_at": seen, "first_seen_at": seen, "last_seen_at": seen, "phones": phones, "towns": [],
            "content_hash": content_hash or f"h-{ad_id}-{uuid.uuid5(uuid.NAMESPACE_URL, text).hex[:8]}",
            "version": 1, "evidence": evidence}


@dataclass
class EvidenceWorld:
    place: ArchivePlace
    ids: list[str]
    pages: dict[str, Page]  # "v1", "v2" (ad 101's two visits), "zipped", "browser"
    blocks: dict[str, dict[str, Any]]  # ad id → its current evidence


BASE = "http://127.0.0.1:8765"


def build_world(store: Any, root: Path) -> EvidenceWorld:
    """Two WARC files, four ads: an HTML ad read twice (two versions, each with its own records,
    the first from an older file), a gzip-encoded page, a browser page with DOM and screenshot,
    and an ad from before archiving (no records)."""
    place = ArchivePlace(root)
    first = Page(f"{BASE}/annons/101", b"<html><head><title>Ny i stan</title></head><body><h1>Ny i stan</h1>"
                 b"<p>Ring 070-174 06 11</p></body></html>")
    older = write_warc(place, "2026/11/fixture-20261127T090000Z-00001.warc.gz", [first],
                       when="2026-11-27T09:00:00Z")
    second = Page(f"{BASE}/annons/101", b"<html><head><title>Ny i stan igen</title></head><body><h1>Ny i stan "
                  b"igen</h1><p>Ring 070-174 06 11, bara sms</p></body></html>")
    zipped = Page(f"{BASE}/annons/102?lang=sv", "<html><body><h1>Besöker Gävle</h1><p>08-465 004 12</p>"
                  "</body></html>".encode(), gzip_body=True)
    browser = Page(f"{BASE}/js/annons/103", b"<html><body><div id=app></div><script src=/app.js></script>"
                   b"</body></html>", dom="<html><body><div id=app><h1>Massage</h1><p>070-174 06 11</p>"
                   "</div></body></html>", screenshot=PNG)
    newer = write_warc(place, "2026/11/fixture-20261128T100000Z-00001.warc.gz", [second, zipped, browser])
    ads = [make_ad("fixture:101", first.url, older[0], "Ny i stan", "Ring 070-174 06 11", [PHONE_A],
                   seen="2026-11-27T09:00:00Z", content_hash="v1"),
           make_ad("fixture:102", zipped.url, newer[1], "Besöker Gävle", "08-465 004 12", [PHONE_B]),
           make_ad("fixture:103", browser.url, newer[2], "Massage", "070-174 06 11", [PHONE_A]),
           make_ad("fixture:104", f"{BASE}/annons/104", None, "Gammal annons", "utan arkiv", [PHONE_B])]
    store.write_ads(ads)
    # The second visit of ad 101 found new content: a new version with its own records.
    store.write_ads([make_ad("fixture:101", second.url, newer[0], "Ny i stan igen", "Ring 070-174 06 11, bara sms",
                             [PHONE_A], seen="2026-11-28T10:00:00Z", content_hash="v2")])
    store.refresh()
    pages = {"v1": first, "v2": second, "zipped": zipped, "browser": browser}
    return EvidenceWorld(place, [a["id"] for a in ads], pages,
                         {"fixture:101": newer[0], "fixture:102": newer[1], "fixture:103": newer[2]})
