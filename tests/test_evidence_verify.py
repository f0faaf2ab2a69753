"""``adwatch evidence verify`` and ``export``: a case file that standard tools accept, digests that
hold, and a changed byte found by file and record, in the archive and in a package."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from adwatch.evidence.refs import RecordRef
from adwatch.evidence.verify import verify_all, verify_path, verify_warc
from adwatch.evidence.verify_records import decode_digest
from index.sqlite import SqliteStore
from tests.conftest import run_adwatch
from tests.evidence_fixtures import EvidenceWorld, build_world

WACZ = Path(sys.executable).parent / "wacz"


@pytest.fixture
def world(home: Path) -> Iterator[EvidenceWorld]:
    """The fixture archive inside ``home`` (ADWATCH_HOME: its store and its evidence folder)."""
    store = SqliteStore(home / "adwatch.db")
    try:
        yield build_world(store, home / "evidence")
    finally:
        store.close()


def ref(world: EvidenceWorld, ad_id: str) -> RecordRef:
    return RecordRef.from_dict(world.blocks[ad_id])


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x55
    path.write_bytes(bytes(data))


def late_in_member(offset: int, length: int) -> int:
    """A byte in a member's compressed data after its WARC headers (the id stays readable):
    just before the 8-byte CRC/size trailer."""
    return offset + length - 10


def wacz_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WACZ), "validate", "-f", str(path)], capture_output=True, text=True, timeout=120)


def entry_start(package: Path, name: str) -> int:
    """Where an entry's bytes begin inside the zip (entries are stored, not deflated)."""
    with zipfile.ZipFile(package) as zf:
        info = zf.getinfo(name)
        assert info.compress_type == zipfile.ZIP_STORED
    with open(package, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
    return info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")


# --- digests ------------------------------------------------------------------------------------
def test_digests_are_read_in_hex_and_base32() -> None:
    raw = hashlib.sha256(b"x").digest()
    assert decode_digest("sha256:" + raw.hex()) == ("sha256", raw)
    assert decode_digest("sha256:" + base64.b32encode(raw).decode()) == ("sha256", raw)
    sha1 = hashlib.sha1(b"x").digest()
    assert decode_digest("sha1:" + base64.b32encode(sha1).decode()) == ("sha1", sha1)
    assert decode_digest("sha256:" + raw.hex()[:-2]) is None
    assert decode_digest("crc32:1234") is None


def test_the_archive_verifies(world: EvidenceWorld, home: Path) -> None:
    files = sorted(world.place.warc_dir.rglob("*.warc.gz"))
    assert len(files) == 2
    report, members = verify_warc(files[1])
    assert report.ok and report.records == 9  # warcinfo, 3 × (request, response), DOM, screenshot
    assert {m.warc_type for m in members.values()} == {"warcinfo", "request", "response", "resource"}
    response = ref(world, "fixture:102")
    assert members[response.offset].payload_sha256 == response.sha256
    # The gzip-encoded page is kept as sent: its payload digest is of the compressed bytes.
    assert response.sha256 == hashlib.sha256(world.pages["zipped"].sent).hexdigest()
    store = SqliteStore(home / "adwatch.db")
    try:
        full = verify_all(world.place, store)
    finally:
        store.close()
    assert full.ok and full.files == 2 and full.refs == 10, full.findings


def test_a_sha1_record_is_checked_too(tmp_path: Path) -> None:
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "sha1.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)  # warcio's default digests: SHA-1, base32
        writer.write_record(writer.create_warc_record("urn:x", "resource", payload=io.BytesIO(b"abc"), length=3,
                                                      warc_content_type="text/plain"))
    data = path.read_bytes()
    assert verify_path(path).ok
    # The same record with another block: the SHA-1 no longer matches.
    import gzip

    text = gzip.decompress(data).replace(b"\r\n\r\nabc", b"\r\n\r\nabd")
    path.write_bytes(gzip.compress(text))
    findings = verify_path(path).findings
    # A resource record's payload is its block: both digests name the change, in SHA-1.
    assert sorted(f.what.split(" mismatch")[0] for f in findings) == ["WARC-Block-Digest", "WARC-Payload-Digest"]
    assert all("sha1:" in f.what for f in findings)


# --- a changed byte in the archive ------------------------------------------------------------------
def test_a_changed_byte_in_a_source_warc_is_named_by_file_and_record(world: EvidenceWorld, home: Path) -> None:
    target = ref(world, "fixture:102")
    path = world.place.resolve(target.warc)
    flip(path, late_in_member(target.offset, target.length))

    done = run_adwatch("evidence", "verify", str(path), home=home)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: record {target.record_id} at offset {target.offset}: "), lines[0]
    assert "does not decompress" in lines[0]
    # The walk went on: every other record was read and checked.
    report, members = verify_warc(path)
    assert report.records == 9 and sum(m.ok for m in members.values()) == 8

    everything = run_adwatch("evidence", "verify", "--all", "--json", home=home)
    assert everything.returncode == 1
    found = json.loads(everything.stdout)["findings"]
    assert {(f["file"], f["offset"], f["record_id"]) for f in found} == {
        (target.warc, target.offset, target.record_id)}
    assert any("ad fixture:102" in f["what"] and f["what"].startswith("changed") for f in found)
    assert any("does not decompress" in f["what"] for f in found)

    shown = run_adwatch("evidence", "show", "fixture:102", "--json", home=home)
    assert shown.returncode == 1
    statuses = {r["type"]: r["status"] for r in json.loads(shown.stdout)["records"]}
    assert statuses == {"response": "changed", "request": "ok"}


def test_a_changed_crc_and_a_cut_file(world: EvidenceWorld, home: Path) -> None:
    target = ref(world, "fixture:103")
    path = world.place.resolve(target.warc)
    flip(path, target.offset + target.length - 6)  # inside the CRC-32 of the trailer
    report, _ = verify_warc(path)
    assert [(f.offset, f.record_id) for f in report.findings] == [(target.offset, target.record_id)]
    assert "incorrect data check" in report.findings[0].what
    # The older file cut short: its last record is gone, and the version pointing to it is missing.
    older = sorted(world.place.warc_dir.rglob("*.warc.gz"))[0]
    older.write_bytes(older.read_bytes()[:-100])
    store = SqliteStore(home / "adwatch.db")
    try:
        full = verify_all(world.place, store)
    finally:
        store.close()
    lines = [f.line() for f in full.findings]
    assert any(line.startswith(world.place.relative(older)) and "file ends inside" in line for line in lines)
    assert any("missing (ad fixture:101, version 1, response)" in line for line in lines), lines


def test_a_removed_warc_is_missing_for_its_ads(world: EvidenceWorld, home: Path) -> None:
    older = sorted(world.place.warc_dir.rglob("*.warc.gz"))[0]
    older.unlink()
    done = run_adwatch("evidence", "verify", "--all", home=home)
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 2  # the response and request records of ad 101's version 1
    assert all("missing (ad fixture:101, version 1" in line for line in done.stdout.splitlines())


def test_files_side_by_side_report_the_same(world: EvidenceWorld) -> None:
    from adwatch.evidence.verify import verify_paths

    files = sorted(world.place.warc_dir.rglob("*.warc.gz"))
    target = ref(world, "fixture:103")
    flip(world.place.resolve(target.warc), late_in_member(target.offset, target.length))
    alone = verify_paths(files, min_bytes=1 << 62)
    together = verify_paths(files, min_bytes=0)  # in worker processes
    assert together.to_dict() == alone.to_dict()
    assert [(f.offset, f.record_id) for f in together.findings] == [(target.offset, target.record_id)]


def test_usage_errors_exit_2(world: EvidenceWorld, home: Path) -> None:
    assert run_adwatch("evidence", "verify", home=home).returncode == 2
    assert run_adwatch("evidence", "verify", "--all", str(home / "x"), home=home).returncode == 2
    lost = run_adwatch("evidence", "verify", str(home / "no-such.warc.gz"), home=home)
    assert lost.returncode == 2 and lost.stderr.startswith("error: no file")


# --- case files ---------------------------------------------------------------------------------------
@pytest.fixture
def package(world: EvidenceWorld, home: Path) -> Path:
    out = home / "case.wacz"
    done = run_adwatch("evidence", "export", "fixture:101", "fixture:102", "fixture:103", "--out", str(out),
                       home=home)
    assert done.returncode == 0, done.stderr
    return out


def test_an_exported_case_validates_and_verifies(package: Path, home: Path) -> None:
    assert stat.S_IMODE(os.stat(package).st_mode) == 0o600
    checked = wacz_validate(package)
    assert checked.returncode == 0 and "Validation succeeded" in checked.stdout, checked.stdout
    done = run_adwatch("evidence", "verify", str(package), home=home)
    assert done.returncode == 0 and done.stdout == "", done.stdout
    assert "all digests match" in done.stderr
    with zipfile.ZipFile(package) as zf:
        names = zf.namelist()
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
        manifest = json.loads(zf.read("case/manifest.json"))
    assert {"indexes/index.cdx", "pages/pages.jsonl", "case/ads.json", "case/manifest.json", "datapackage.json",
            "datapackage-digest.json"} <= set(names)
    assert manifest["exported_by"].startswith("cli:") and manifest["asked"] == {
        "ads": ["fixture:101", "fixture:102", "fixture:103"]}
    assert manifest["counts"]["records"] == manifest["counts"]["packaged"] == 10


def test_a_package_refuses_to_replace_a_file(package: Path, home: Path) -> None:
    before = package.read_bytes()
    again = run_adwatch("evidence", "export", "fixture:102", "--out", str(package), home=home)
    assert again.returncode == 2 and "exists already" in again.stderr
    assert package.read_bytes() == before
    forced = run_adwatch("evidence", "export", "fixture:102", "--out", str(package), "--force", home=home)
    assert forced.returncode == 0 and package.read_bytes() != before
    assert not [p for p in package.parent.iterdir() if p.name.endswith(".part")]


def test_changed_bytes_in_a_package_are_named(package: Path, home: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        manifest = json.loads(zf.read("case/manifest.json"))
    record = next(r for ad in manifest["ads"] if ad["id"] == "fixture:102" for r in ad["records"]
                  if r["type"] == "response")
    placed = record["package"]
    in_warc = tmp_path / "warc-changed.wacz"
    shutil.copy(package, in_warc)
    flip(in_warc, entry_start(in_warc, placed["warc"]) + late_in_member(placed["offset"], placed["length"]))
    in_ads = tmp_path / "ads-changed.wacz"
    shutil.copy(package, in_ads)
    flip(in_ads, entry_start(in_ads, "case/ads.json") + 40)

    done = run_adwatch("evidence", "verify", str(in_warc), str(in_ads), home=home)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    warc_lines = [line for line in lines if line.startswith(f"{in_warc}!{placed['warc']}")]
    assert any(f"record {record['record_id']} at offset {placed['offset']}: the gzip member does not decompress"
               in line for line in warc_lines), lines
    assert any(line.startswith(f"{in_warc}!{placed['warc']}: SHA-256 is") for line in warc_lines)
    ads_lines = [line for line in lines if line.startswith(f"{in_ads}!")]
    assert ads_lines and all(line.startswith(f"{in_ads}!case/ads.json: SHA-256 is") for line in ads_lines), lines
    assert not any(line.startswith(f"{in_warc}!case/") for line in lines)  # only what changed
    assert wacz_validate(in_warc).returncode == 1 and wacz_validate(in_ads).returncode == 1


def test_export_says_what_it_could_not_read(world: EvidenceWorld, home: Path) -> None:
    sorted(world.place.warc_dir.rglob("*.warc.gz"))[0].unlink()  # ad 101's first version
    out = home / "partial.wacz"
    done = run_adwatch("evidence", "export", "--phone", "070-174 06 11", "--out", str(out), "--json", home=home)
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"]["ads"] == 2 and summary["counts"]["missing"] == 2 and summary["counts"]["packaged"] == 6
    assert wacz_validate(out).returncode == 0
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("case/manifest.json"))
    old = next(ad for ad in manifest["ads"] if ad["id"] == "fixture:101")["versions"][0]["records"]
    assert {r["status"] for r in old} == {"missing"} and not any("package" in r for r in old)
    assert run_adwatch("evidence", "verify", str(out), home=home).returncode == 0  # the package itself is whole


def test_export_is_refused_without_the_audit_log(world: EvidenceWorld, home: Path) -> None:
    import sqlite3

    db = sqlite3.connect(home / "adwatch.db")
    db.execute("CREATE TRIGGER audit_offline BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'offline'); END")
    db.commit()
    db.close()
    out = home / "never.wacz"
    done = run_adwatch("evidence", "export", "fixture:102", "--out", str(out), home=home)
    assert done.returncode == 3 and not out.exists()
    assert len(done.stderr.splitlines()) == 1 and "audit log cannot be written" in done.stderr
    assert run_adwatch("evidence", "show", "fixture:102", home=home).returncode == 3


def test_an_uncompressed_warc_is_walked_record_by_record(world: EvidenceWorld, tmp_path: Path) -> None:
    import gzip

    source = sorted(world.place.warc_dir.rglob("*.warc.gz"))[1]
    plain = tmp_path / "plain.warc"
    plain.write_bytes(gzip.decompress(source.read_bytes()))  # the members, concatenated, inflated
    report, members = verify_warc(plain)
    assert report.ok and report.records == 9
    body = world.pages["v2"].body
    at = plain.read_bytes().index(body)
    flip(plain, at + 5)
    report, members = verify_warc(plain)
    assert report.records == 9 and len(report.findings) == 2  # block and payload digest of that response
    changed = {f.record_id for f in report.findings}
    assert changed == {ref(world, "fixture:101").record_id}


def test_show_never_obeys_what_a_reference_holds(world: EvidenceWorld, home: Path) -> None:
    from tests.evidence_fixtures import make_ad

    hostile = dict(world.blocks["fixture:102"], url="http://x/\x1b]0;owned\x07\u202eevil", related=[],
                   warc="warc/\x1b[2Jnone.warc.gz")
    store = SqliteStore(home / "adwatch.db")
    try:
        store.write_ads([make_ad("fixture:666", "http://x/", hostile, "t", "x", [])])
    finally:
        store.close()
    done = run_adwatch("evidence", "show", "fixture:666", home=home)
    assert done.returncode == 1  # its record is missing
    for stream in (done.stdout, done.stderr):
        assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
    assert "\\x1b" in done.stdout and "missing" in done.stdout
