"""Evidence while crawling: every page a crawl fetches is archived as WARC, and every Ad points to
the records it was read from (adwatch/evidence/archive.py, capture.py).

One crawl of the demo world (HTML sites A and B, the channel and its RSS feed) with a small
WARC size, so it rotates, serves most checks; the browser source, the stores' round trip on
Elasticsearch, archiving off and an unwritable archive have crawls of their own.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from adwatch.demo.channel_posts import CHANNEL
from adwatch.demo.server import DemoSite
from adwatch.evidence.archive import ArchiveError, WarcArchive
from adwatch.evidence.capture import RENDERED_PREFIX, SCREENSHOT_PREFIX, http_records
from adwatch.evidence.refs import ArchivePlace, RecordRef, read_member, record_refs
from config.source_kinds import BrowserOptions
from tests.conftest import ROOT, run_adwatch

WARCIO = str(ROOT / ".venv" / "bin" / "warcio")
SOURCES = ROOT / "config" / "sources"
HTML = ("annonsguiden", "nightlist")
FEEDS = ("kanal_escortsverige", "kanal_escortsverige_rss")


@dataclass
class World:
    site: DemoSite
    home: Path
    runs: list[dict[str, Any]]

    @property
    def place(self) -> ArchivePlace:
        return ArchivePlace(self.home / "evidence")

    def warcs(self) -> list[Path]:
        return sorted(self.place.warc_dir.rglob("*.warc.gz"))

    def ads(self) -> dict[str, dict[str, Any]]:
        with sqlite3.connect(self.home / "adwatch.db") as db:
            db.row_factory = sqlite3.Row
            rows = {row["id"]: dict(row) for row in db.execute("SELECT id, source, url, title, evidence FROM ads")}
        for row in rows.values():
            row["evidence"] = json.loads(row["evidence"]) if row["evidence"] else None
        return rows


def write_sources(folder: Path, names: tuple[str, ...]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SOURCES / f"{name}.yaml", folder / f"{name}.yaml")
    return folder


def crawl(site: DemoSite, home: Path, sources: Path, names: tuple[str, ...], *extra: str,
          env: dict[str, str] | None = None, timeout: float = 240) -> tuple[list[dict[str, Any]], str]:
    result = run_adwatch("crawl", *names, "--base-url", site.base_url, "--json", *extra, home=home,
                         env={"ADWATCH_SOURCES_DIR": str(sources), **(env or {})}, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs, result.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("evidence")
    home = root / "home"
    home.mkdir()
    sources = write_sources(root / "sources", HTML + FEEDS)
    with DemoSite(seed=7, count=60) as site:  # flaky pages too: a 503 first, then the page
        # 40 kB files: the crawl's archive rotates several times.
        runs, _ = crawl(site, home, sources, HTML + FEEDS, "-s", "ADWATCH_EVIDENCE_WARC_MB=0.04")
        yield World(site, home, runs)


def one_record(member: bytes) -> ArcWarcRecord:
    records = list(ArchiveIterator(io.BytesIO(member)))
    assert len(records) == 1
    return records[0]


def raw_payload(place: ArchivePlace, ref: RecordRef) -> tuple[ArcWarcRecord, bytes]:
    """The record a reference names and its payload as stored (not content-decoded)."""
    for record in ArchiveIterator(io.BytesIO(read_member(place, ref))):
        return record, record.raw_stream.read()
    raise AssertionError(f"no record at {ref}")


# -- the crawl of HTML and feed sources ------------------------------------------------

def test_every_stored_ad_points_to_the_response_it_was_read_from(world: World) -> None:
    ads = world.ads()
    assert {ad["source"] for ad in ads.values()} == set(HTML + FEEDS)
    assert [run["status"] for run in world.runs] == ["ok"] * 4
    for ad_id, ad in ads.items():
        refs = list(record_refs(ad["evidence"]))
        assert refs and refs[0].type == "response", ad_id
        record, payload = raw_payload(world.place, refs[0])
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Record-ID") == refs[0].record_id
        assert record.rec_headers.get_header("WARC-Date") == refs[0].fetched_at
        assert record.rec_headers.get_header("WARC-Payload-Digest") == f"sha256:{refs[0].sha256}"
        assert hashlib.sha256(payload).hexdigest() == refs[0].sha256, ad_id
        assert record.http_headers is not None and record.http_headers.get_statuscode() == "200", ad_id
        if ad["source"] in HTML:  # a detail page is the ad's own URL; a feed post is read from its page
            assert refs[0].url == ad["url"]
        (request,) = refs[1:]
        assert request.type == "request"
        sent, _ = raw_payload(world.place, request)
        assert sent.rec_type == "request"
        assert sent.rec_headers.get_header("WARC-Concurrent-To") == refs[0].record_id
        assert sent.http_headers is not None and sent.http_headers.protocol == "GET"  # warcio: method, then target


def test_a_gzip_body_is_archived_compressed_and_its_digest_is_of_the_compressed_bytes(world: World) -> None:
    ad = next(ad for ad in world.ads().values() if ad["source"] == "annonsguiden")
    ref = next(record_refs(ad["evidence"]))
    record, payload = raw_payload(world.place, ref)
    assert record.http_headers is not None
    assert record.http_headers.get_header("Content-Encoding") == "gzip"
    assert payload[:2] == b"\x1f\x8b"
    assert hashlib.sha256(payload).hexdigest() == ref.sha256
    page = gzip.decompress(payload).decode("utf-8")
    assert ad["title"].split()[0] in page
    # warcio's own reader undoes the encoding for a replay: the archive is readable as a page.
    decoded = next(iter(ArchiveIterator(io.BytesIO(read_member(world.place, ref))))).content_stream().read()
    assert decoded == gzip.decompress(payload)


def test_robots_txt_listings_feeds_and_error_pages_are_archived(world: World) -> None:
    targets: list[tuple[str, str, str]] = []
    for path in world.warcs():
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    assert record.http_headers is not None
                    targets.append((record.rec_headers.get_header("WARC-Target-URI"),
                                    record.http_headers.get_statuscode(),
                                    record.http_headers.get_header("Content-Type") or ""))
    urls = {url for url, _, _ in targets}
    base = world.site.base_url
    assert f"{base}/robots.txt" in urls
    assert f"{base}/annons/" in urls and f"{base}/nl/" in urls
    assert any(url.startswith(f"{base}/rss/") and "xml" in kind for url, _, kind in targets)  # the RSS feed
    assert any(url.startswith(f"{base}/s/") for url in urls)  # channel pages
    statuses = {status for _, status, _ in targets}
    assert {"200", "404", "503"} <= statuses  # removed ads and the flaky page's first answer too


def test_warcio_check_and_index_accept_every_file_and_the_archive_rotated(world: World) -> None:
    files = world.warcs()
    by_source = {source: [f for f in files if f.name.startswith(f"{source}-")] for source in HTML + FEEDS}
    assert all(by_source.values()), by_source
    assert len(by_source["annonsguiden"]) >= 3 and len(by_source["kanal_escortsverige"]) >= 2  # rotated past 40 kB
    for group in by_source.values():
        serials = [int(f.name.removesuffix(".warc.gz").rsplit("-", 1)[1]) for f in group]
        assert serials == list(range(1, len(group) + 1))
    for path in files:
        check = subprocess.run([WARCIO, "check", "-v", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
        assert "digest pass" in check.stdout and "fail" not in check.stdout
        index = subprocess.run([WARCIO, "index", str(path)], capture_output=True, text=True, check=True)
        kinds = [json.loads(line)["warc-type"] for line in index.stdout.splitlines()]
        assert kinds[0] == "warcinfo" and "response" in kinds and "request" in kinds
        with path.open("rb") as fh:
            info = next(iter(ArchiveIterator(fh)))
            fields = info.content_stream().read().decode()
        assert "software: adwatch/" in fields and "WARC File Format 1.1" in fields
        assert info.rec_headers.protocol == "WARC/1.1"


def test_warcio_check_catches_a_changed_payload_byte(world: World, tmp_path: Path) -> None:
    """The digests are real: one byte changed inside a record (its gzip member rebuilt, so only the
    digest can tell) fails ``warcio check``."""
    ad = next(iter(world.ads().values()))
    ref = next(record_refs(ad["evidence"]))
    source = world.place.resolve(ref.warc)
    data = source.read_bytes()
    member = gzip.decompress(data[ref.offset:ref.offset + ref.length])
    at = member.rindex(b"\r\n\r\n", 0, len(member) - 4) + 4 + 2  # inside the HTTP payload
    changed = member[:at] + bytes([member[at] ^ 0x01]) + member[at + 1:]
    packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    rebuilt = packer.compress(changed) + packer.flush()
    copy = tmp_path / "changed.warc.gz"
    copy.write_bytes(data[:ref.offset] + rebuilt + data[ref.offset + ref.length:])
    check = subprocess.run([WARCIO, "check", "-v", str(copy)], capture_output=True, text=True)
    assert check.returncode != 0
    assert "digest failed" in check.stdout or "fail" in check.stdout


def test_archive_files_are_private(world: World) -> None:
    root = world.place.root
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_the_run_records_what_it_archived(world: World) -> None:
    for run in world.runs:
        stats = run["stats"]
        assert stats["adwatch/evidence/records"] >= 2 * run["pages"]
        assert stats["adwatch/evidence/bytes"] > 0 and "adwatch/evidence/not_archived" not in stats


# -- without an archive ---------------------------------------------------------------

def test_archiving_off_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with DemoSite(seed=7, count=20, flaky=False) as site:
        runs, _ = crawl(site, home, write_sources(tmp_path / "sources", ("nightlist",)), ("nightlist",),
                        env={"ADWATCH_EVIDENCE": "off"})
    assert [run["status"] for run in runs] == ["ok"]
    assert not (home / "evidence").exists()
    ads = World(site, home, runs).ads()
    assert ads and all(not (ad["evidence"] or {}).get("record_id") for ad in ads.values())


def test_an_unwritable_archive_loses_no_ad_and_says_so_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive should be")  # unwritable even for root
    with DemoSite(seed=7, count=20, flaky=False) as site:
        runs, stderr = crawl(site, home, write_sources(tmp_path / "sources", ("nightlist",)), ("nightlist",),
                             env={"ADWATCH_EVIDENCE_DIR": str(blocker / "evidence")})
        expected = {f"nightlist:{ad.site_id}" for ad in site.ads_b if ad.status != "gone"}
    (run,) = runs
    assert run["status"] == "partial"
    assert run["stats"]["adwatch/evidence/not_archived"] >= run["pages"]
    ads = World(site, home, runs).ads()
    assert set(ads) == expected
    assert all(not (ad["evidence"] or {}).get("record_id") for ad in ads.values())
    errors = [line for line in stderr.splitlines() if "could not be archived" in line]
    assert len(errors) == 1 and "ERROR" in errors[0]


# -- the writer alone: hostile bytes, rotation, a full disk -----------------------------

def hostile_exchange(body: bytes, url: str = "http://127.0.0.1:9/annons/ad/1") -> tuple[Request, HtmlResponse]:
    request = Request(url, headers={"Accept-Encoding": "gzip"})
    response = HtmlResponse(url, status=200, body=body, request=request, protocol="HTTP/1.1",
                            headers={"Content-Type": "text/html", "X-Odd": b"a\x01b\xe4",
                                     "Transfer-Encoding": "chunked"})
    return request, response


def test_hostile_bytes_are_archived_byte_exact(tmp_path: Path) -> None:
    place = ArchivePlace(tmp_path / "evidence")
    archive = WarcArchive(place, "hostile/../source", 64 * 1024 * 1024)
    bodies = [bytes(range(256)) * 4 + b"\r\n\r\nWARC/1.1\r\n" + "\x00\x1b[31m\u202e".encode(),
              os.urandom(3 * 1024 * 1024),  # a huge body that does not compress
              b"<html>" + b"<div>" * 200_000 + b"\x00" * 1000]
    refs = [archive.write(http_records(*hostile_exchange(body), "2026-12-01T08:00:00Z"))[0] for body in bodies]
    archive.close()
    (path,) = archive.files
    assert path.name.startswith("hostile_.._source-") and path.parent.parent.parent == place.warc_dir
    for body, ref in zip(bodies, refs, strict=True):
        record, payload = raw_payload(place, ref)
        assert payload == body and ref.sha256 == hashlib.sha256(body).hexdigest()
        assert record.http_headers is not None
        # The body we have is de-chunked: the header that would make a reader de-chunk it again is gone.
        assert record.http_headers.get_header("Transfer-Encoding") is None
        assert record.rec_headers.get_header("WARC-Adwatch-Decoded") == "transfer-encoding"
    check = subprocess.run([WARCIO, "check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-2000:]


def test_rotation_keeps_each_group_whole_and_each_file_valid(tmp_path: Path) -> None:
    place = ArchivePlace(tmp_path / "evidence")
    archive = WarcArchive(place, "rot", 20_000)
    refs = [archive.write(http_records(*hostile_exchange(os.urandom(6000), f"http://127.0.0.1:9/p/{n}"),
                                       "2026-12-01T08:00:00Z")) for n in range(12)]
    archive.close()
    assert len(archive.files) >= 4
    for response, request in refs:
        assert response.warc == request.warc and request.offset == response.offset + response.length
    for path in archive.files:
        assert subprocess.run([WARCIO, "check", str(path)], capture_output=True).returncode == 0


def test_a_failed_write_leaves_the_file_valid_and_the_archive_usable(tmp_path: Path) -> None:
    place = ArchivePlace(tmp_path / "evidence")
    archive = WarcArchive(place, "full", 64 * 1024 * 1024)
    first = archive.write(http_records(*hostile_exchange(b"<p>one</p>"), "2026-12-01T08:00:00Z"))
    folder = archive.files[0].parent
    archive.close()
    # The next file cannot be made (a file where its folder is); the crawl is told, nothing breaks.
    shutil.rmtree(place.warc_dir)
    place.warc_dir.write_text("in the way")
    with pytest.raises(ArchiveError):
        archive.write(http_records(*hostile_exchange(b"<p>two</p>"), "2026-12-01T08:00:00Z"))
    place.warc_dir.unlink()
    third = archive.write(http_records(*hostile_exchange(b"<p>three</p>"), "2026-12-01T08:00:00Z"))
    archive.close()
    assert raw_payload(place, third[0])[1] == b"<p>three</p>"
    assert first[0].warc != third[0].warc and folder.exists()


# -- configuration ---------------------------------------------------------------------

def test_browser_screenshot_option() -> None:
    assert BrowserOptions.model_validate({}).screenshot_kinds() == ()
    assert BrowserOptions.model_validate({"screenshot": True}).screenshot_kinds() == ("listing", "detail")
    assert BrowserOptions.model_validate({"screenshot": ["detail"]}).screenshot_kinds() == ("detail",)
    assert BrowserOptions.model_validate({"screenshot": True, "render": ["detail"]}).screenshot_kinds() == ("detail",)
    for bad in ({"screenshot": "yes"}, {"screenshot": ["page"]}, {"screenshot": ["detail", "detail"]},
                {"screenshot": ["listing"], "render": ["detail"]}):
        with pytest.raises(ValueError):
            BrowserOptions.model_validate(bad)


# -- a browser source --------------------------------------------------------------------

@pytest.mark.slow
def test_browser_pages_keep_the_document_the_rendered_dom_and_a_screenshot(tmp_path: Path) -> None:
    from tests.browser_env import require_chromium

    require_chromium()
    home = tmp_path / "home"
    home.mkdir()
    folder = tmp_path / "sources"
    folder.mkdir()
    text = (SOURCES / "velvet.yaml").read_text(encoding="utf-8")
    # Screenshots of detail pages; a short deadline and no retries: the site's hanging page costs little.
    extra = "  screenshot: [detail]\n  retries: 0\n"
    lines = [line for line in text.splitlines(keepends=True)
             if not line.startswith(("  retries:", "  page_timeout:", "  screenshot:"))]
    lines.insert(lines.index("browser:\n") + 1, extra + "  page_timeout: 8s\n")
    (folder / "velvet.yaml").write_text("".join(lines), encoding="utf-8")
    with DemoSite(seed=7, count=20, flaky=False) as site:
        runs, stderr = crawl(site, home, folder, ("velvet",), timeout=300)
    place = ArchivePlace(home / "evidence")
    ads = World(site, home, runs).ads()
    assert ads, stderr[-2000:]
    for ad_id, ad in ads.items():
        refs = list(record_refs(ad["evidence"]))
        assert [ref.type for ref in refs] == ["response", "request", "resource", "screenshot"], ad_id
        response, request, rendered, shot = refs
        assert rendered.url == RENDERED_PREFIX + ad["url"] and shot.url == SCREENSHOT_PREFIX + ad["url"]
        record, document = raw_payload(place, response)
        assert record.http_headers is not None
        # The site sent it gzipped, Chromium gave it decoded: said so, and no header claims otherwise.
        assert record.rec_headers.get_header("WARC-Adwatch-Decoded") == "content-encoding"
        assert record.http_headers.get_header("Content-Encoding") is None
        assert document.startswith(b"<!DOCTYPE html>")
        assert hashlib.sha256(document).hexdigest() == response.sha256
        dom_record, dom = raw_payload(place, rendered)
        assert dom_record.rec_type == "resource"
        assert dom_record.rec_headers.get_header("WARC-Concurrent-To") == response.record_id
        assert dom_record.rec_headers.get_header("Content-Type").startswith("text/html")
        # The rendered DOM holds what the script built (the ad, from JSON); the server's document is
        # only the shell, and is never archived as the rendered page.
        word = max((w for w in ad["title"].split() if w.isalnum()), key=len, default="").encode()  # not escaped
        assert word in dom and word not in document and hashlib.sha256(dom).hexdigest() == rendered.sha256
        shot_record, png = raw_payload(place, shot)
        assert shot_record.rec_headers.get_header("Content-Type") == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n"
        assert raw_payload(place, request)[0].rec_type == "request"
    for path in place.warc_dir.rglob("*.warc.gz"):
        assert subprocess.run([WARCIO, "check", str(path)], capture_output=True).returncode == 0
        with path.open("rb") as fh:  # a listing has its rendered DOM, but no screenshot (detail only)
            uris = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)]
        assert RENDERED_PREFIX + f"{site.base_url}/v/" in uris
        assert SCREENSHOT_PREFIX + f"{site.base_url}/v/" not in uris


# -- the stores carry the reference; a new version points to its own records -------------

def test_elasticsearch_keeps_the_reference_and_a_new_version_gets_new_records(tmp_path: Path, es_url: str) -> None:
    from index.elastic import ElasticStore

    prefix = f"t{uuid.uuid4().hex[:10]}"
    home = tmp_path / "home"
    home.mkdir()
    sources = write_sources(tmp_path / "sources", ("kanal_escortsverige",))
    env = {"ADWATCH_STORE": f"elasticsearch+{es_url}", "ADWATCH_ES_PREFIX": prefix}
    store = ElasticStore(es_url, prefix=prefix)
    try:
        with DemoSite(seed=7, count=20, flaky=False) as site:
            runs, _ = crawl(site, home, sources, ("kanal_escortsverige",), env=env)
            assert [run["status"] for run in runs] == ["ok"]
            post = site.channels.visible()[-1]  # the newest post
            ad_id = f"kanal_escortsverige:{CHANNEL}/{post.id}"
            before = store.get_ad(ad_id)
            assert before is not None and before["evidence"]["record_id"]
            site.channels.edit(post.id, site.channels.text_of(post) + "<br>Nytt pris: 3000 kr")
            crawl(site, home, sources, ("kanal_escortsverige",), "--refresh", env=env)
        store.refresh()
        after = store.get_ad(ad_id)
        assert after is not None and after["version"] == before["version"] + 1
        place = ArchivePlace(home / "evidence")
        old, new = next(record_refs(before["evidence"])), next(record_refs(after["evidence"]))
        assert new.record_id != old.record_id
        assert b"3000 kr" in gzip.decompress(raw_payload(place, new)[1])
        assert b"3000 kr" not in gzip.decompress(raw_payload(place, old)[1])
    finally:
        store.drop()
        store.close()

