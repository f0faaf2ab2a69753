"""``adwatch evidence verify``: every digest recomputed, every change named by file and record.

- a WARC file: each gzip member inflated and its record's block and payload digests
  recomputed (``verify_records.walk``); a member that no longer inflates is one finding and
  the walk goes on at the next member;
- a WACZ case file: each file's SHA-256 against ``datapackage.json``, that file against
  ``datapackage-digest.json``, the WARCs inside record by record, the CDXJ index and the
  manifest's records against what the WARCs hold, ``case/ads.json`` against the manifest;
- ``--all``: every WARC under the archive folder, and every stored ad's (and version's)
  references: a record at that offset, of that length and id, whose payload SHA-256 is the one
  the ad carries.

A finding is one line: the file (``case.wacz!archive/x.warc.gz`` inside a package), the record
(its id and offset) when there is one, and what changed.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from adwatch.evidence.refs import ArchivePlace, RecordRef, read_member, record_refs
from adwatch.evidence.verify_records import Member, one_member, walk

# The files of a case package adwatch adds to the WACZ layout (wacz.py writes them).
ADS_FILE = "case/ads.json"
MANIFEST_FILE = "case/manifest.json"
DIGEST_FILE = "datapackage-digest.json"
PACKAGE_FILE = "datapackage.json"
ADS_PAGE = 500  # stored ads read per request by --all


@dataclass(frozen=True)
class Finding:
    file: str
    what: str
    offset: int | None = None
    record_id: str = ""

    def line(self) -> str:
        if self.offset is None and not self.record_id:
            return f"{self.file}: {self.what}"
        where = f"record {self.record_id or '(id unreadable)'}"
        if self.offset is not None:
            where += f" at offset {self.offset}"
        return f"{self.file}: {where}: {self.what}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "offset": self.offset, "record_id": self.record_id, "what": self.what}


@dataclass
class Report:
    files: int = 0
    records: int = 0
    bytes: int = 0
    refs: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, other: Report) -> Report:
        self.files += other.files
        self.records += other.records
        self.bytes += other.bytes
        self.refs += other.refs
        self.findings.extend(other.findings)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": self.files, "records": self.records, "bytes": self.bytes, "refs": self.refs,
                "findings": [f.to_dict() for f in self.findings]}


# --- one record, as a reference names it -----------------------------------------------------
@dataclass(frozen=True)
class RefCheck:
    ref: RecordRef
    status: str  # ok, changed or missing
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.ref.to_dict() | {"status": self.status, "detail": self.detail}


def compare_ref(ref: RecordRef, member: Member) -> RefCheck:
    """What a record read at the reference's place says about the reference."""
    if member.problems:
        return RefCheck(ref, "changed", "; ".join(member.problems))
    if member.record_id != ref.record_id:
        return RefCheck(ref, "changed", f"the record there is {member.record_id or 'unreadable'}, "
                                        f"not {ref.record_id}")
    if member.payload_sha256 != ref.sha256.lower():
        return RefCheck(ref, "changed", f"payload SHA-256 is {member.payload_sha256}, the ad says {ref.sha256}")
    return RefCheck(ref, "ok")


def check_ref(place: ArchivePlace, ref: RecordRef) -> RefCheck:
    """The record a reference points to: there (``missing`` if not), and unchanged (``changed`` if not)."""
    try:
        raw = read_member(place, ref)
    except (OSError, ValueError) as exc:
        return RefCheck(ref, "missing", str(exc))
    return compare_ref(ref, one_member(raw))


# --- WARC files -------------------------------------------------------------------------------
def _findings(label: str, member: Member) -> list[Finding]:
    return [Finding(label, problem, member.offset, member.record_id) for problem in member.problems]


def walk_file(path: Path) -> Iterator[Member]:
    """The members of a WARC file on disk (mapped, not read into memory)."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield from walk(mapped)


def verify_warc(path: Path, label: str | None = None) -> tuple[Report, dict[int, Member]]:
    """A WARC file's records checked; the members by offset (for reference checks)."""
    name = label or str(path)
    report = Report(files=1)
    members: dict[int, Member] = {}
    try:
        report.bytes = path.stat().st_size
        for member in walk_file(path):
            members[member.offset] = member
            report.records += 1
            report.findings.extend(_findings(name, member))
    except OSError as exc:
        report.findings.append(Finding(name, f"cannot be read ({exc.strerror or exc})"))
    return report, members


# --- WACZ packages ----------------------------------------------------------------------------
def _sha256_stream(stream: IO[bytes]) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return size, "sha256:" + digest.hexdigest()


def _raw_entry(fh: IO[bytes], info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes as they lie in the zip (no CRC check, so a changed byte is found by record,
    not as one "bad CRC" for the whole file). Stored entries only; others through zipfile."""
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise ValueError("its local header is damaged")
    name_len = int.from_bytes(local[26:28], "little")
    extra_len = int.from_bytes(local[28:30], "little")
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    data = fh.read(info.compress_size)
    if len(data) != info.compress_size:
        raise ValueError("cut short")
    return data


def _entry(zf: zipfile.ZipFile, fh: IO[bytes], info: zipfile.ZipInfo) -> bytes:
    if info.compress_type == zipfile.ZIP_STORED:
        return _raw_entry(fh, info)
    return zf.read(info)


def _json_entry(zf: zipfile.ZipFile, fh: IO[bytes], name: str, label: str, report: Report) -> Any:
    try:
        return json.loads(_entry(zf, fh, zf.getinfo(name)))
    except KeyError:
        report.findings.append(Finding(f"{label}!{name}", "missing from the package"))
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        report.findings.append(Finding(f"{label}!{name}", f"cannot be read as JSON ({exc})"))
    return None


def verify_wacz(path: Path, label: str | None = None) -> Report:
    name = label or str(path)
    report = Report(files=1)
    try:
        report.bytes = path.stat().st_size
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            _verify_package(zf, fh, name, report)
    except (OSError, zipfile.BadZipFile) as exc:
        report.findings.append(Finding(name, f"not a readable WACZ (zip) file ({exc})"))
    return report


def _verify_package(zf: zipfile.ZipFile, fh: IO[bytes], name: str, report: Report) -> None:
    infos = {info.filename: info for info in zf.infolist()}
    # datapackage.json against datapackage-digest.json
    package_raw: bytes | None = None
    try:
        package_raw = _entry(zf, fh, infos[PACKAGE_FILE])
    except KeyError:
        report.findings.append(Finding(f"{name}!{PACKAGE_FILE}", "missing from the package"))
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        report.findings.append(Finding(f"{name}!{PACKAGE_FILE}", f"cannot be read ({exc})"))
    digest = _json_entry(zf, fh, DIGEST_FILE, name, report)
    if package_raw is not None and isinstance(digest, dict):
        actual = "sha256:" + hashlib.sha256(package_raw).hexdigest()
        if digest.get("hash") != actual:
            report.findings.append(Finding(f"{name}!{PACKAGE_FILE}", f"SHA-256 is {actual}, "
                                           f"{DIGEST_FILE} says {digest.get('hash')}"))
    package: Any = None
    if package_raw is not None:
        try:
            package = json.loads(package_raw)
        except ValueError as exc:
            report.findings.append(Finding(f"{name}!{PACKAGE_FILE}", f"not JSON ({exc})"))
    resources = package.get("resources") if isinstance(package, dict) else None
    if not isinstance(resources, list):
        report.findings.append(Finding(f"{name}!{PACKAGE_FILE}", "lists no resources"))
        resources = []
    listed: set[str] = set()
    for resource in resources:
        if not isinstance(resource, dict) or not isinstance(resource.get("path"), str):
            report.findings.append(Finding(f"{name}!{PACKAGE_FILE}", f"a resource without a path: {resource!r}"))
            continue
        entry = resource["path"]
        listed.add(entry)
        info = infos.get(entry)
        if info is None:
            report.findings.append(Finding(f"{name}!{entry}", "listed in datapackage.json, missing from the package"))
            continue
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                fh.seek(0)
                data = _raw_entry(fh, info)
                size, actual = len(data), "sha256:" + hashlib.sha256(data).hexdigest()
            else:
                with zf.open(info) as stream:
                    size, actual = _sha256_stream(stream)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            report.findings.append(Finding(f"{name}!{entry}", f"cannot be read ({exc})"))
            continue
        if resource.get("hash") != actual:
            report.findings.append(Finding(f"{name}!{entry}", f"SHA-256 is {actual}, datapackage.json says "
                                           f"{resource.get('hash')}"))
        if resource.get("bytes") is not None and resource.get("bytes") != size:
            report.findings.append(Finding(f"{name}!{entry}", f"{size} bytes, datapackage.json says "
                                           f"{resource.get('bytes')}"))
    for entry in sorted(set(infos) - listed - {PACKAGE_FILE, DIGEST_FILE}):
        if not entry.endswith("/"):
            report.findings.append(Finding(f"{name}!{entry}", "in the package but not in datapackage.json"))
    # the WARCs inside, record by record
    members: dict[str, dict[int, Member]] = {}
    for entry, info in sorted(infos.items()):
        if not entry.startswith("archive/") or not entry.endswith((".warc.gz", ".warc")):
            continue
        label = f"{name}!{entry}"
        try:
            data = _entry(zf, fh, info)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            report.findings.append(Finding(label, f"cannot be read ({exc})"))
            continue
        found = members.setdefault(entry, {})
        for member in walk(data):
            found[member.offset] = member
            report.records += 1
            report.findings.extend(_findings(label, member))
    _check_index(zf, fh, name, members, report)
    _check_manifest(zf, fh, name, infos, members, report)


def _check_index(zf: zipfile.ZipFile, fh: IO[bytes], name: str, members: dict[str, dict[int, Member]],
                 report: Report) -> None:
    entry = "indexes/index.cdxj"
    if entry not in zf.namelist():
        return
    label = f"{name}!{entry}"
    try:
        text = _entry(zf, fh, zf.getinfo(entry)).decode("utf-8")
    except (ValueError, OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        report.findings.append(Finding(label, f"cannot be read ({exc})"))
        return
    for number, line in enumerate(text.splitlines(), 1):
        try:
            fields = json.loads(line.split(" ", 2)[2])
            where, offset, length = "archive/" + fields["filename"], int(fields["offset"]), int(fields["length"])
        except (IndexError, ValueError, KeyError, TypeError):
            report.findings.append(Finding(label, f"line {number} cannot be read"))
            continue
        member = members.get(where, {}).get(offset)
        if member is None or member.length != length:
            report.findings.append(Finding(label, f"line {number} points to {where} at {offset} ({length} bytes), "
                                                  "where no such record starts"))
        elif fields.get("digest") and member.payload_digest_header and fields["digest"] != member.payload_digest_header:
            report.findings.append(Finding(label, f"line {number}: digest {fields['digest']} is not the record's "
                                                  f"{member.payload_digest_header}", offset, member.record_id))


def _check_manifest(zf: zipfile.ZipFile, fh: IO[bytes], name: str, infos: dict[str, zipfile.ZipInfo],
                    members: dict[str, dict[int, Member]], report: Report) -> None:
    if MANIFEST_FILE not in infos:
        return  # a WACZ adwatch did not write: the WACZ checks are all there is
    manifest = _json_entry(zf, fh, MANIFEST_FILE, name, report)
    if not isinstance(manifest, dict):
        return
    label = f"{name}!{MANIFEST_FILE}"
    for entry, stated in (manifest.get("files") or {}).items():
        info = infos.get(entry)
        if info is None:
            report.findings.append(Finding(label, f"names {entry}, which is missing from the package"))
            continue
        try:
            data = _entry(zf, fh, info)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            report.findings.append(Finding(f"{name}!{entry}", f"cannot be read ({exc})"))
            continue
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != stated:
            report.findings.append(Finding(f"{name}!{entry}", f"SHA-256 is {actual}, the manifest says {stated}"))
    for record in manifest_records(manifest):
        packaged = record.get("package") or {}
        where, offset = packaged.get("warc"), packaged.get("offset")
        if where is None or offset is None:
            continue  # a record the export could not read: the manifest says so itself
        report.refs += 1
        member = members.get(str(where), {}).get(int(offset))
        if member is None:
            report.findings.append(Finding(f"{name}!{where}", "the manifest's record is not there", int(offset),
                                           str(record.get("record_id") or "")))
        elif member.ok and (member.record_id != record.get("record_id")
                            or member.payload_sha256 != record.get("sha256")):
            report.findings.append(Finding(f"{name}!{where}", f"is not the record the manifest names "
                                           f"({record.get('record_id')}, payload {record.get('sha256')})",
                                           int(offset), member.record_id))


def manifest_records(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every record entry of a manifest, of every ad and version."""
    for ad in manifest.get("ads") or []:
        yield from ad.get("records") or []
        for version in ad.get("versions") or []:
            yield from version.get("records") or []


# --- the whole archive and the store's references -----------------------------------------
def iter_stored_ads(store: Any) -> Iterator[dict[str, Any]]:
    """Every stored ad, a page at a time (newest first by the search's order)."""
    from index.query import SearchQuery

    offset = 0
    while True:
        hits = store.search(SearchQuery(limit=ADS_PAGE, offset=offset, sort="newest", facets=False)).hits
        yield from hits
        if len(hits) < ADS_PAGE:
            return
        offset += len(hits)


def ad_refs(store: Any, ad: dict[str, Any]) -> Iterator[tuple[str, RecordRef]]:
    """(which: "current" or "version N", ref) for an ad and its earlier versions."""
    for ref in record_refs(ad.get("evidence")):
        yield "current", ref
    for version in store.ad_versions(ad["id"]):
        for ref in record_refs(version.get("evidence")):
            yield f"version {version.get('version')}", ref


def stored_refs(store: Any) -> Iterator[tuple[str, str, RecordRef]]:
    """(ad id, which, ref) of every stored ad and version: through the store's own walk of the
    evidence blocks (``evidence_refs``, no search window) when it has one, else ad by ad."""
    walk_refs = getattr(store, "evidence_refs", None)
    if walk_refs is None:
        for ad in iter_stored_ads(store):
            for which, ref in ad_refs(store, ad):
                yield ad["id"], which, ref
        return
    for ad_id, version, evidence in walk_refs():
        which = "current" if version is None else f"version {version}"
        for ref in record_refs(evidence):
            yield ad_id, which, ref


def verify_all(place: ArchivePlace, store: Any) -> Report:
    """Every WARC under the archive folder, then every stored reference against it."""
    report = Report()
    walked: dict[str, dict[int, Member]] = {}
    paths = sorted(place.warc_dir.rglob("*.warc.gz")) if place.warc_dir.is_dir() else []
    jobs = [(str(path), place.relative(path)) for path in paths]
    for (_, relative), (found, members) in zip(jobs, _in_parallel(_warc_job, jobs), strict=True):
        report.add(found)
        walked[relative] = members
    for ad_id, which, ref in stored_refs(store):
        report.refs += 1
        in_file = walked.get(ref.warc)
        if in_file is None:
            result = check_ref(place, ref)  # outside warc/, or not there at all
        else:
            member = in_file.get(ref.offset)
            if member is None or member.length != ref.length:
                result = RefCheck(ref, "missing", f"no record of {ref.length} bytes starts at that offset")
            else:
                result = compare_ref(ref, member)
        if result.status != "ok":
            report.findings.append(Finding(ref.warc, f"{result.status} (ad {ad_id}, {which}, {ref.type}): "
                                                     f"{result.detail}", ref.offset, ref.record_id))
    return report


# Files are verified side by side (each in a process of its own: inflating and hashing are
# CPU-bound) when there are several and enough bytes to pay for starting the processes.
PARALLEL_MIN_BYTES = 512 * 1024 * 1024
PARALLEL_MAX = 4


def _warc_job(job: tuple[str, str]) -> tuple[Report, dict[int, Member]]:
    found, members = verify_warc(Path(job[0]), job[1])
    for kept in members.values():
        kept.headers = {}  # the reference checks need the identity and digest only
    return found, members


def _path_job(job: tuple[str, str]) -> Report:
    return verify_path(Path(job[0]))


def _in_parallel(work: Any, jobs: list[tuple[str, str]], min_bytes: int = PARALLEL_MIN_BYTES) -> list[Any]:
    """``work`` over ``jobs`` in order: in a few processes when it pays, else here."""
    sizes = 0
    for path, _ in jobs:
        try:
            sizes += os.path.getsize(path)
        except OSError:
            pass
    workers = min(PARALLEL_MAX, os.cpu_count() or 1, len(jobs))
    if workers < 2 or sizes < min_bytes:
        return [work(job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # "spawn": a fresh interpreter per worker, never a fork of whatever threads this process runs.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(work, jobs))


def verify_paths(paths: list[Path], min_bytes: int = PARALLEL_MIN_BYTES) -> Report:
    """WARC files and WACZ packages, each checked (side by side when several and ``min_bytes`` together)."""
    report = Report()
    for found in _in_parallel(_path_job, [(str(path), str(path)) for path in paths], min_bytes):
        report.add(found)
    return report


def is_wacz(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def verify_path(path: Path) -> Report:
    """A WARC file or a WACZ, told apart by their first bytes; OSError when it cannot be opened."""
    if is_wacz(path):
        return verify_wacz(path)
    return verify_warc(path)[0]
