"""The WARC writer: one crawl's (one spider's) pages as WARC 1.1 files, rotated by size.

Files: ``<archive>/warc/YYYY/MM/<source>-<UTC stamp>-<random>-<serial>.warc.gz`` (year, month and
stamp of the crawl's start, a few random hex digits so two crawls of a source started in the same
second never share a name, serial 00001, 00002, … as files rotate past ``max_bytes``). Each file
begins with a ``warcinfo`` record. Every record is its own gzip member, and a record's reference
is that member's offset and length, as CDX indexes have them, so one record is read (and
checked) without the rest of the file.

Records are serialised by warcio and compressed here (zlib level ``compresslevel``, warcio
would use 9 — slower for a few per cent of size). Digests are SHA-256, written as
``sha256:<hex>`` in ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` and computed before warcio
sees the record, so it adds no SHA-1 of its own; ``warcio check`` verifies them.

Durability: each group of records (request + response, …) is written with ``os.write`` on an
unbuffered descriptor, so it is readable by any process as soon as ``write`` returns (an ad
stored afterwards can be checked against it); ``fsync`` follows at most once per
``sync_seconds`` (1 s), and always when a file is rotated or closed. A crash therefore loses at
most the last second of archive, never an earlier record, and a group is never left half written
in a file we go on using: a failed write is cut back to where the group began.

Files are 0600, folders 0700 (``adwatch/core/private.py``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from adwatch import __version__
from adwatch.core.clock import iso, utcnow
from adwatch.core.private import ensure_private_dir, open_private
from adwatch.evidence.refs import ArchivePlace, RecordRef

logger = logging.getLogger(__name__)

WARC_VERSION = "WARC/1.1"
SOFTWARE = f"adwatch/{__version__}"
# The header that says what we undid of the bytes as sent (a browser gives the main document
# decoded; Scrapy gives a chunked body de-chunked): "content-encoding", "transfer-encoding".
DECODED_HEADER = "WARC-Adwatch-Decoded"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class ArchiveError(OSError):
    """A record group could not be archived (disk full, folder unwritable); the crawl goes on."""


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class RecordSpec:
    """One record to write: its type, target URI, HTTP head (request/response) and payload.

    ``ref_type`` is the ``type`` its reference gets ("response", "request", "resource",
    "screenshot"); ``headers`` are extra WARC headers (WARC-Concurrent-To, …)."""

    rec_type: str
    url: str
    payload: bytes
    date: str
    http: StatusAndHeaders | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    record_id: str = field(default_factory=new_record_id)
    ref_type: str = "response"


def http_head(status_line: str, protocol: str, headers: Sequence[tuple[str, str]]) -> StatusAndHeaders:
    """The HTTP head of a response ("200 OK", "HTTP/1.1") or of a request ("GET /path HTTP/1.1", ""):
    warcio writes the protocol first, then the status line."""
    return StatusAndHeaders(status_line, list(headers), protocol=protocol)


def _digest_headers(spec: RecordSpec) -> dict[str, str]:
    """WARC-Block-Digest over the HTTP head and payload, WARC-Payload-Digest over the payload."""
    payload_hex = sha256_hex(spec.payload)
    if spec.http is None:
        return {"WARC-Block-Digest": f"sha256:{payload_hex}", "WARC-Payload-Digest": f"sha256:{payload_hex}"}
    spec.http.compute_headers_buffer()
    block = hashlib.sha256(spec.http.headers_buff)
    block.update(spec.payload)
    return {"WARC-Block-Digest": f"sha256:{block.hexdigest()}", "WARC-Payload-Digest": f"sha256:{payload_hex}"}


class _Serialiser(WARCWriter):
    """warcio's writer, uncompressed into a buffer: we compress (one gzip member per record)."""

    def __init__(self) -> None:
        self.buffer = BytesIO()
        super().__init__(self.buffer, gzip=False, warc_version=WARC_VERSION)

    def record_bytes(self, spec: RecordSpec, digests: dict[str, str]) -> bytes:
        warc_headers = {"WARC-Record-ID": spec.record_id, "WARC-Date": spec.date, **spec.headers, **digests}
        if spec.content_type:
            warc_headers["Content-Type"] = spec.content_type
        record = self.create_warc_record(spec.url, spec.rec_type, payload=BytesIO(spec.payload),
                                         length=len(spec.payload), warc_headers_dict=warc_headers,
                                         http_headers=spec.http,
                                         warc_content_type=spec.content_type or "")
        self.buffer.seek(0)
        self.buffer.truncate()
        self.write_record(record)
        return self.buffer.getvalue()


def _gzip_member(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(data) + compressor.flush()


class WarcArchive:
    """The WARC files of one crawl of one source. Not thread-safe: one writer at a time."""

    def __init__(self, place: ArchivePlace, source: str, max_bytes: int, *, compresslevel: int = 6,
                 sync_seconds: float = 1.0, started: datetime | None = None) -> None:
        self.place = place
        self.source = _SAFE_NAME.sub("_", source).strip("._") or "source"
        self.max_bytes = max(1, max_bytes)
        self.compresslevel = min(9, max(0, compresslevel))  # zlib's range; outside it zlib would fail every record
        self.sync_seconds = sync_seconds
        start = started or utcnow()
        self._folder = place.warc_dir / f"{start:%Y}" / f"{start:%m}"
        self._stem = f"{self.source}-{start:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self._serial = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._name = ""  # the current file's name relative to the archive folder (what refs carry)
        self._size = 0
        self._synced_at = 0.0
        self._serialiser = _Serialiser()
        self.files: list[Path] = []  # every file this crawl wrote (the current one last)
        self.bytes_written = 0

    # -- files -------------------------------------------------------------------

    def _open_next(self) -> None:
        ensure_private_dir(self.place.root, tighten_existing=False)
        ensure_private_dir(self._folder)
        self._serial += 1
        path = self._folder / f"{self._stem}-{self._serial:05d}.warc.gz"
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND)
        self._fd, self._path, self._size = fd, path, 0
        self._name = self.place.relative(path)
        self.files.append(path)
        try:
            self._append([self._warcinfo(path)])
            self._sync(force=True)
            _sync_folder(self._folder)  # the new name survives a crash too
        except OSError:
            self._drop_file()
            raise

    def _warcinfo(self, path: Path) -> RecordSpec:
        # What made the file, nothing more: no host name, no settings (they may hold secrets).
        fields = (f"software: {SOFTWARE}\r\nformat: WARC File Format 1.1\r\n"
                  "conformsTo: http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
                  f"isPartOf: {self.source}\r\n")
        return RecordSpec("warcinfo", "", fields.encode("utf-8"), iso(utcnow()),
                          content_type="application/warc-fields", headers={"WARC-Filename": path.name},
                          ref_type="warcinfo")

    def _sync(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._fd is not None and (force or now - self._synced_at >= self.sync_seconds):
            os.fsync(self._fd)
            self._synced_at = now

    def _drop_file(self) -> None:
        """Forget the current file after a failure (what it holds up to the failed group stays)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        """fsync and close the current file (the next write, if any, starts a new one)."""
        fd = self._fd
        if fd is None:
            return
        try:
            os.fsync(fd)
        finally:
            self._fd = None
            os.close(fd)

    @property
    def current(self) -> Path | None:
        return self._path if self._fd is not None else None

    # -- records -----------------------------------------------------------------

    def _append(self, specs: Sequence[RecordSpec]) -> list[RecordRef]:
        """Serialise, compress and append records to the current file; their references."""
        assert self._fd is not None and self._path is not None
        members: list[bytes] = []
        digests: list[dict[str, str]] = []
        for spec in specs:
            digest = _digest_headers(spec)
            digests.append(digest)
            members.append(_gzip_member(self._serialiser.record_bytes(spec, digest), self.compresslevel))
        start = self._size
        data = b"".join(members)
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            try:  # cut the half-written group off: the file stays a valid WARC
                os.ftruncate(self._fd, start)
            except OSError:
                pass
            raise
        self._size += len(data)
        self.bytes_written += len(data)
        name = self._name
        refs, offset = [], start
        for spec, member, digest in zip(specs, members, digests, strict=True):
            refs.append(RecordRef(warc=name, offset=offset, length=len(member), record_id=spec.record_id,
                                  sha256=digest["WARC-Payload-Digest"].removeprefix("sha256:"),
                                  fetched_at=spec.date, url=spec.url, type=spec.ref_type))
            offset += len(member)
        return refs

    def write(self, specs: Sequence[RecordSpec]) -> list[RecordRef]:
        """Write records as one group (same file, in this order); their references, in order.

        Raises ``ArchiveError`` when they could not be archived (the archive stays usable and
        tries again with the next group)."""
        try:
            if self._fd is not None and self._size >= self.max_bytes:
                self.close()
            if self._fd is None:
                self._open_next()
            refs = self._append(specs)
            self._sync()
            return refs
        except OSError as exc:
            self._drop_file()
            reason = exc.strerror or str(exc)
            where = exc.filename or self._path or self._folder
            raise ArchiveError(exc.errno or 0, f"{where}: {reason}") from exc


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
