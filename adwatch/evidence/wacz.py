"""A case file: the case's records packaged as a WACZ 1.1.1, with the ads and a manifest.

Layout (the ZIP stores every entry, nothing deflated, so offsets inside the WARC stay usable):

    archive/adwatch-case-<time>.warc.gz   a warcinfo record describing the export, each source
                                           WARC's own warcinfo, then every record of the case as
                                           the raw gzip member read from the archive (its bytes,
                                           and so its digests, are the original's)
    indexes/index.cdx                     CDXJ lines (SURT key, 14-digit time, JSON with url,
                                           mime, status, digest, offset, length, filename), sorted
                                           (named .cdx: pywb's WACZ import looks for that name)
    pages/pages.jsonl                     a header line, then one entry per ad page (response record)
    case/ads.json                         the ads as stored, each with its earlier versions
    case/manifest.json                    who exported, when, adwatch's version, what was asked,
                                           counts, per ad its records with their ORIGINAL file /
                                           offset / SHA-256 and where they lie in this package,
                                           and the SHA-256 of every other file
    datapackage.json                      profile data-package, wacz_version, created, software,
                                           resources: path, hash (sha256:…), bytes
    datapackage-digest.json               the SHA-256 of datapackage.json

Extra files sit one folder deep (``case/``): ``wacz validate`` names a file by its last two
path parts, so a file at the top would never match its datapackage entry.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

import adwatch
from adwatch.core.clock import now_iso
from adwatch.evidence.cases import Case, CaseAd
from adwatch.evidence.refs import ArchivePlace, RecordRef, read_member
from adwatch.evidence.verify import ADS_FILE, DIGEST_FILE, MANIFEST_FILE, PACKAGE_FILE, RefCheck
from adwatch.evidence.verify_records import Member, one_member, walk

WACZ_VERSION = "1.1.1"
INDEX_FILE = "indexes/index.cdx"
PAGES_FILE = "pages/pages.jsonl"
MANIFEST_FORMAT = "adwatch-case-1"
# Records a replay tool looks a URL up by.
INDEXED_TYPES = ("response", "resource", "revisit")


class CaseFileExists(FileExistsError):
    pass


@dataclass
class ExportResult:
    path: Path
    counts: dict[str, int]
    problems: list[str]
    sha256: str  # of the whole file, for the chain of custody
    bytes: int
    manifest: dict[str, Any] = field(default_factory=dict)


# --- SURT and CDXJ ----------------------------------------------------------------------------
def surt(url: str) -> str:
    """The sort-friendly URL key CDX indexes use (as the ``surt`` library writes it by default):
    host reversed, without "www.", the scheme and a default port dropped, query sorted, lower case."""
    if url.startswith(("urn:", "dns:", "filedesc:")):
        return url
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").strip(".").lower()
        port = parts.port
    except ValueError:
        return url.lower()
    labels = host.split(".")
    while len(labels) > 1 and labels[0].startswith("www") and (labels[0][3:] == "" or labels[0][3:].isdigit()):
        labels = labels[1:]
    key = ",".join(reversed(labels))
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    if port is not None and port != default:
        key += f":{port}"
    path = parts.path or "/"
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    return (key + ")" + path + (f"?{query}" if query else "")).lower()


def cdx_time(warc_date: str) -> str:
    """WARC-Date (ISO, maybe with fractions) → the 14-digit CDX timestamp."""
    digits = "".join(ch for ch in warc_date if ch.isdigit())
    return digits[:14].ljust(14, "0")


def cdxj_line(member: Member, filename: str, offset: int) -> str:
    fields: dict[str, str] = {"url": member.target_uri}
    if member.warc_type == "response":
        fields["mime"] = member.http_mime or "unk"
        fields["status"] = member.http_status or "-"
    else:
        fields["mime"] = member.content_type.split(";")[0].strip() or "unk"
        if member.warc_type == "resource":
            fields["status"] = "200"
    if member.payload_digest_header or member.headers.get("warc-block-digest"):
        fields["digest"] = member.payload_digest_header or member.headers["warc-block-digest"]
    fields |= {"length": str(member.length), "offset": str(offset), "filename": filename}
    if member.warc_type != "response":
        fields["recordtype"] = member.warc_type  # how pywb's cdxj-indexer marks non-response records
    return f"{surt(member.target_uri)} {cdx_time(member.date)} {json.dumps(fields, ensure_ascii=False)}"


# --- the package's WARC --------------------------------------------------------------------
class _Sha256Writer(WARCWriter):
    @staticmethod
    def _create_digester() -> Digester:  # the archive's digests are SHA-256; the export's own record too
        return Digester("sha256")


def _warcinfo(filename: str, info: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    writer = _Sha256Writer(buffer, gzip=True, warc_version="WARC/1.1")
    writer.write_record(writer.create_warcinfo_record(filename, info))
    return buffer.getvalue()


def _source_warcinfo(place: ArchivePlace, warc: str) -> bytes | None:
    """A source WARC's first record when it is its warcinfo (how and by what it was written)."""
    try:
        with open(place.resolve(warc), "rb") as fh:
            head = fh.read(1 << 20)
    except (OSError, ValueError):
        return None
    for member in walk(head):
        if member.ok and member.warc_type == "warcinfo":
            return head[:member.length]
        return None
    return None


@dataclass
class _Packed:
    """Where each source record went in the package's WARC."""

    at: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)  # (warc, offset) → (offset, length)
    index: list[str] = field(default_factory=list)
    skipped: dict[tuple[str, int], str] = field(default_factory=dict)  # could not be read: why


class _Hashing:
    """A write stream that counts and hashes what passes through."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.digest.update(data)
        self.size += len(data)

    @property
    def hash(self) -> str:
        return "sha256:" + self.digest.hexdigest()


def _write_warc(stream: _Hashing, filename: str, case: Case, place: ArchivePlace, info: dict[str, str]) -> _Packed:
    packed = _Packed()
    stream.write(_warcinfo(filename, info))
    records = case.records()
    for warc in sorted({c.ref.warc for c in records if c.status != "missing"}):
        source = _source_warcinfo(place, warc)
        if source is not None:
            stream.write(source)
    for check in records:
        key = (check.ref.warc, check.ref.offset)
        if check.status == "missing":
            packed.skipped[key] = check.detail
            continue
        try:
            raw = read_member(place, check.ref)
        except (OSError, ValueError) as exc:
            packed.skipped[key] = str(exc)
            continue
        offset = stream.size
        stream.write(raw)
        packed.at[key] = (offset, len(raw))
        member = one_member(raw)
        member.length = len(raw)
        if member.warc_type in INDEXED_TYPES and member.target_uri:
            packed.index.append(cdxj_line(member, filename, offset))
    packed.index.sort()
    return packed


# --- pages, ads, manifest ----------------------------------------------------------------------
def _pages(case: Case, packed: _Packed) -> bytes:
    lines: list[dict[str, Any]] = [{"format": "json-pages-1.0", "id": "pages", "title": "adwatch case: ad pages"}]
    seen: set[tuple[str, int]] = set()
    for item in case.ads:
        titled = [(item.ad.get("title"), item.ad.get("version"), item.current)]
        titled += [(v.get("title"), v.get("version"), records.checks)
                   for v, records in zip(item.versions, item.earlier, strict=False)]
        for title, version, checks in titled:
            for check in checks:
                key = (check.ref.warc, check.ref.offset)
                if check.ref.type != "response" or key not in packed.at or key in seen:
                    continue
                seen.add(key)
                lines.append({"id": check.ref.record_id.strip("<>").removeprefix("urn:uuid:"), "url": check.ref.url,
                              "ts": check.ref.fetched_at, "title": str(title or item.ad["id"]),
                              "ad": item.ad["id"], "version": version})
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


def _record_entry(check: RefCheck, packed: _Packed, warc_entry: str) -> dict[str, Any]:
    ref: RecordRef = check.ref
    key = (ref.warc, ref.offset)
    entry: dict[str, Any] = {"type": ref.type, "record_id": ref.record_id, "url": ref.url,
                             "fetched_at": ref.fetched_at, "sha256": ref.sha256,
                             "original": {"warc": ref.warc, "offset": ref.offset, "length": ref.length},
                             "status": check.status}
    if check.detail:
        entry["detail"] = check.detail
    if key in packed.at:
        offset, length = packed.at[key]
        entry["package"] = {"warc": warc_entry, "offset": offset, "length": length}
    elif key in packed.skipped:
        entry["detail"] = packed.skipped[key]
    return entry


def _manifest_ad(item: CaseAd, packed: _Packed, warc_entry: str) -> dict[str, Any]:
    return {"id": item.ad["id"], "version": item.ad.get("version"), "url": item.ad.get("url"),
            "records": [_record_entry(c, packed, warc_entry) for c in item.current],
            "versions": [{"version": v.version, "replaced_at": v.replaced_at,
                          "records": [_record_entry(c, packed, warc_entry) for c in v.checks]}
                         for v in item.earlier]}


def ads_json(case: Case) -> bytes:
    """The ads as stored, each with its earlier versions (as ``adwatch show --json`` prints them)."""
    ads = [item.ad | {"versions": item.versions} for item in case.ads]
    return json.dumps(ads, ensure_ascii=False, indent=1, sort_keys=True, default=str).encode()


# --- the file ---------------------------------------------------------------------------------
def _entry_info(name: str, stamp: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, stamp)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o600 << 16
    return info


def _zip_stamp(created: str) -> tuple[int, int, int, int, int, int]:
    digits = cdx_time(created)
    return (int(digits[:4]), int(digits[4:6]), int(digits[6:8]), int(digits[8:10]), int(digits[10:12]),
            int(digits[12:14]))


def write_case(case: Case, place: ArchivePlace, out: Path, exported_by: str, force: bool = False) -> ExportResult:
    """Write the case file at ``out`` (0600, whole or not at all); CaseFileExists unless ``force``."""
    out = Path(out)
    if out.exists() and not force:
        raise CaseFileExists(f"{out} exists already (--force replaces it)")
    created = now_iso()
    stamp = _zip_stamp(created)
    warc_name = f"adwatch-case-{cdx_time(created)[:8]}T{cdx_time(created)[8:]}Z.warc.gz"
    warc_entry = f"archive/{warc_name}"
    software = f"adwatch {adwatch.__version__}"
    fd, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent or Path("."))
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w+b") as fh:
            resources: list[dict[str, Any]] = []
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                with zf.open(_entry_info(warc_entry, stamp), "w", force_zip64=True) as stream:
                    hashing = _Hashing(stream)
                    packed = _write_warc(hashing, warc_name, case, place, {
                        "software": software, "format": "WARC File Format 1.1", "isPartOf": "adwatch case file",
                        "description": f"Records of {len(case.ads)} ads exported by {exported_by} at {created}; "
                                       "each record after this one is copied byte for byte from the archive.",
                        "operator": exported_by, "asked": json.dumps(case.selector.describe(), ensure_ascii=False)})
                resources.append(_resource(warc_entry, hashing.hash, hashing.size))
                files: dict[str, str] = {warc_entry: hashing.hash}
                for name, data in ((INDEX_FILE, "".join(line + "\n" for line in packed.index).encode()),
                                   (PAGES_FILE, _pages(case, packed)), (ADS_FILE, ads_json(case))):
                    digest = _put(zf, name, data, stamp)
                    resources.append(_resource(name, digest, len(data)))
                    files[name] = digest
                counts = case.counts() | {"packaged": len(packed.at)}
                manifest = {"format": MANIFEST_FORMAT, "exported_by": exported_by, "exported_at": created,
                            "software": software, "asked": case.selector.describe(), "counts": counts,
                            "ads_not_found": case.not_found, "problems": case.problems(), "files": files,
                            "ads": [_manifest_ad(item, packed, warc_entry) for item in case.ads]}
                manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
                resources.append(_resource(MANIFEST_FILE, _put(zf, MANIFEST_FILE, manifest_bytes, stamp),
                                           len(manifest_bytes)))
                package = {"profile": "data-package", "wacz_version": WACZ_VERSION, "created": created,
                           "software": software, "title": f"adwatch case: {len(case.ads)} ads",
                           "description": f"Exported by {exported_by} at {created}.", "resources": resources}
                main = next((line for line in _main_page(case, packed)), None)
                if main is not None:
                    package["mainPageUrl"], package["mainPageDate"] = main
                package_bytes = json.dumps(package, ensure_ascii=False, indent=1).encode()
                _put(zf, PACKAGE_FILE, package_bytes, stamp)
                _put(zf, DIGEST_FILE, json.dumps({"path": PACKAGE_FILE, "hash": "sha256:" + hashlib.sha256(
                    package_bytes).hexdigest()}, indent=1).encode(), stamp)
            fh.flush()
            os.fsync(fh.fileno())
            fh.seek(0)
            whole = hashlib.sha256()
            size = 0
            while chunk := fh.read(1 << 20):
                whole.update(chunk)
                size += len(chunk)
        os.chmod(temp, 0o600)
        _publish(temp, out, force)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return ExportResult(out, counts, case.problems(), whole.hexdigest(), size, manifest)


def _main_page(case: Case, packed: _Packed) -> Iterator[tuple[str, str]]:
    for item in case.ads:
        for check in item.current:
            if check.ref.type == "response" and (check.ref.warc, check.ref.offset) in packed.at:
                yield check.ref.url, check.ref.fetched_at


def _resource(path: str, digest: str, size: int) -> dict[str, Any]:
    return {"name": path.rsplit("/", 1)[-1].lower(), "path": path, "hash": digest, "bytes": size}


def _put(zf: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, int, int, int, int, int]) -> str:
    zf.writestr(_entry_info(name, stamp), data)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _publish(temp: Path, out: Path, force: bool) -> None:
    """The finished file takes its name in one step; without ``force`` never over another file,
    even one that appeared while this one was written (a hard link fails if the name is taken)."""
    if force:
        os.replace(temp, out)
        return
    try:
        os.link(temp, out)
    except FileExistsError:
        raise CaseFileExists(f"{out} exists already (--force replaces it)") from None
    except OSError:  # a file system without hard links
        if out.exists():
            raise CaseFileExists(f"{out} exists already (--force replaces it)") from None
        os.replace(temp, out)
        return
    temp.unlink()
