"""One WARC file's gzip members, walked and checked: the digests each record states, recomputed.

A WARC file here is a series of gzip members, one record each (warcio writes them so, and
CDX offsets point at member starts). ``walk`` decompresses member after member; each
``Member`` says where it lies (offset, length), what it is (type, record id, target URI) and
what does not add up: a member that does not inflate (a changed byte in the compressed data
shows up here, or as a CRC error at its end), a block or payload whose digest differs from
the one in the record's header. After a broken member the walk looks for the next gzip member
that starts a WARC record and goes on from there, so one changed byte costs one record.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from mmap import mmap

Buffer = bytes | bytearray | mmap

GZIP_MAGIC = b"\x1f\x8b\x08"
_CONTENT_TYPE = re.compile(rb"\r\ncontent-type:[ \t]*([^;\r\n]*)", re.IGNORECASE)
# Compressed bytes fed to zlib at a time. A member is usually a few KB; feeding much more than
# that would copy the rest of each feed into ``unused_data`` once per member.
FEED = 32 * 1024
# Hash names as WARC headers write them → hashlib's.
_ALGORITHMS = {"sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256",
               "sha512": "sha512", "sha-512": "sha512", "md5": "md5"}
_SIZES = {name: hashlib.new(name).digest_size for name in set(_ALGORITHMS.values())}


@dataclass
class Member:
    offset: int
    length: int
    warc_type: str = ""
    record_id: str = ""
    target_uri: str = ""
    date: str = ""
    content_type: str = ""
    payload_sha256: str = ""  # hex, of the HTTP payload (response/request) or the block (others)
    http_status: str = ""
    http_mime: str = ""
    payload_digest_header: str = ""
    problems: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


# RFC 4648 base32 letters → the digits Python's int(…, 32) reads: a C-speed decoder (base64.b32decode
# is pure Python and was the verifier's largest single cost).
_B32_TO_INT = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")
_B32_LETTERS = re.compile("[A-Z2-7]+")


def _b32(text: str, size: int) -> bytes | None:
    letters = text.rstrip("=").upper()
    if not _B32_LETTERS.fullmatch(letters):
        return None
    spare = len(letters) * 5 - size * 8  # padding bits at the end
    if not 0 <= spare < 5:
        return None
    value = int(letters.translate(_B32_TO_INT), 32)
    if value & ((1 << spare) - 1):
        return None
    return (value >> spare).to_bytes(size, "big")


def decode_digest(value: str) -> tuple[str, bytes] | None:
    """``sha256:…`` (hex or base32, as warcio and others write them) → (hashlib name, raw digest)."""
    label, sep, text = value.strip().partition(":")
    algorithm = _ALGORITHMS.get(label.lower())
    if not sep or algorithm is None:
        return None
    size = _SIZES[algorithm]
    text = text.strip()
    if len(text) == 2 * size:
        try:
            return algorithm, bytes.fromhex(text)
        except ValueError:
            pass
    raw = _b32(text, size)
    return (algorithm, raw) if raw is not None else None


def digest_problem(name: str, stated: str, data: memoryview | bytes,
                   known: dict[str, bytes] | None = None) -> str | None:
    """None when ``stated`` (a WARC digest header) is the digest of ``data``; else why not.
    ``known``: digests already computed over the same bytes, by algorithm (saves a pass)."""
    decoded = decode_digest(stated)
    if decoded is None:
        return f"{name} {stated!r} cannot be read"
    algorithm, raw = decoded
    actual = (known or {}).get(algorithm)
    if actual is None:
        actual = hashlib.new(algorithm, data).digest()
    if actual != raw:
        return f"{name} mismatch: the record says {stated}, its bytes give {algorithm}:{actual.hex()}"
    return None


def _headers(text: bytes) -> tuple[str, dict[str, str]]:
    lines = text.decode("utf-8", "replace").split("\r\n")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return lines[0], fields


def check_record(offset: int, length: int, data: bytes) -> Member:
    """The record in one decompressed member: its identity and its digests, recomputed."""
    member = Member(offset, length)
    view = memoryview(data)
    end = data.find(b"\r\n\r\n")
    if not data.startswith(b"WARC/") or end < 0:
        member.problems.append("not a WARC record (no WARC/ version line and headers)")
        return member
    _version, fields = _headers(data[:end])
    member.headers = fields
    member.warc_type = fields.get("warc-type", "")
    member.record_id = fields.get("warc-record-id", "")
    member.target_uri = fields.get("warc-target-uri", "")
    member.date = fields.get("warc-date", "")
    member.content_type = fields.get("content-type", "")
    try:
        size = int(fields.get("content-length", ""))
    except ValueError:
        member.problems.append("no Content-Length")
        return member
    start = end + 4
    block = view[start:start + size]
    if len(block) != size:
        member.problems.append(f"block cut short ({len(block)} of {size} bytes)")
        return member
    if bytes(view[start + size:start + size + 4]) != b"\r\n\r\n":
        member.problems.append("the record does not end where its Content-Length says")
    block_sha256 = hashlib.sha256(block).digest()
    payload = block
    if member.warc_type in ("response", "request") and member.content_type.startswith("application/http"):
        cut = data.find(b"\r\n\r\n", start, start + size)
        if cut >= 0:
            payload = view[cut + 4:start + size]
            head = data[start:cut]
            line_end = head.find(b"\r\n")
            parts = (head if line_end < 0 else head[:line_end]).split(b" ", 2)
            if member.warc_type == "response" and len(parts) > 1:
                member.http_status = parts[1].decode("ascii", "replace")
            found = _CONTENT_TYPE.search(head)
            member.http_mime = found.group(1).decode("latin-1").strip() if found else ""
    payload_sha256 = block_sha256 if payload is block else hashlib.sha256(payload).digest()
    member.payload_sha256 = payload_sha256.hex()
    stated_block = fields.get("warc-block-digest")
    if stated_block:
        problem = digest_problem("WARC-Block-Digest", stated_block, block, {"sha256": block_sha256})
        if problem:
            member.problems.append(problem)
    stated_payload = fields.get("warc-payload-digest")
    member.payload_digest_header = stated_payload or ""
    if stated_payload:
        problem = digest_problem("WARC-Payload-Digest", stated_payload, payload, {"sha256": payload_sha256})
        if problem:
            member.problems.append(problem)
    return member


def _inflate(data: memoryview, pos: int) -> tuple[bytes, int]:
    """The member starting at ``pos``, decompressed, and its compressed length; zlib.error when it
    does not inflate, EOFError when the data ends inside it."""
    inflater = zlib.decompressobj(31)
    parts: list[bytes] = []
    fed = pos
    total = len(data)
    while not inflater.eof:
        if fed >= total:
            raise EOFError("the file ends inside this gzip member")
        chunk = data[fed:fed + FEED]
        fed += len(chunk)
        parts.append(inflater.decompress(chunk))
    return b"".join(parts), fed - len(inflater.unused_data) - pos


def _next_start(data: Buffer, view: memoryview, after: int) -> int:
    """The next offset after ``after`` where a gzip member holding a WARC record starts (the end: none)."""
    pos = after
    while True:
        pos = data.find(GZIP_MAGIC, pos + 1)
        if pos < 0:
            return len(view)
        probe = zlib.decompressobj(31)
        try:
            head = probe.decompress(view[pos:pos + 512], 5)
        except zlib.error:
            continue
        if head.startswith(b"WARC/"):
            return pos


def walk(data: Buffer) -> Iterator[Member]:
    """Every gzip member of a WARC file's bytes (or its mmap), checked, in file order; an
    uncompressed WARC (``.warc``) record by record."""
    view = memoryview(data)
    pos = 0
    total = len(view)
    if total and bytes(view[:5]) == b"WARC/":
        yield from _walk_plain(data, view)
        return
    while pos < total:
        if bytes(view[pos:pos + 3]) != GZIP_MAGIC:
            resume = _next_start(data, view, pos)
            member = Member(pos, resume - pos)
            member.problems.append(f"{resume - pos} bytes that are no gzip member")
            yield member
            pos = resume
            continue
        try:
            raw, length = _inflate(view, pos)
        except (zlib.error, EOFError) as exc:
            resume = _next_start(data, view, pos)
            member = Member(pos, resume - pos)
            # What can still be read of its header says which record it was.
            member.record_id = _partial_id(view, pos)
            member.problems.append(f"the gzip member does not decompress ({exc})")
            yield member
            pos = resume
            continue
        yield check_record(pos, length, raw)
        pos += length


_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.IGNORECASE)


def _walk_plain(data: Buffer, view: memoryview) -> Iterator[Member]:
    """An uncompressed WARC: each record is its headers, its block and two CRLFs; after one whose
    length cannot be read the walk resumes at the next "WARC/1." line start."""
    pos = 0
    total = len(view)
    while pos < total:
        end = data.find(b"\r\n\r\n", pos)
        found = _LENGTH.search(bytes(view[pos:end])) if end >= 0 else None
        if not bytes(view[pos:pos + 5]) == b"WARC/" or found is None:
            resume = data.find(b"\r\n\r\nWARC/1.", pos + 1)
            resume = total if resume < 0 else resume + 4
            member = Member(pos, resume - pos)
            member.problems.append(f"{resume - pos} bytes that are no WARC record")
            yield member
            pos = resume
            continue
        length = end + 4 + int(found.group(1)) + 4 - pos
        yield check_record(pos, length, bytes(view[pos:pos + length]))
        pos += length


def _partial_id(view: memoryview, pos: int) -> str:
    """The WARC-Record-ID of a broken member, from what still inflates before the damage (fed in
    small steps: zlib drops a call's whole output when it fails inside it)."""
    probe = zlib.decompressobj(31)
    head = b""
    end = min(len(view), pos + 8192)
    for start in range(pos, end, 64):
        try:
            head += probe.decompress(view[start:min(start + 64, end)])
        except zlib.error:
            break
        if b"\r\n\r\n" in head or probe.eof:
            break
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"warc-record-id:"):
            return line.split(b":", 1)[1].strip().decode("utf-8", "replace")
    return ""


def one_member(raw: bytes) -> Member:
    """A single gzip member (``refs.read_member``) checked as a record; extra bytes are a problem."""
    view = memoryview(raw)
    try:
        data, length = _inflate(view, 0)
    except (zlib.error, EOFError) as exc:
        member = Member(0, len(raw), record_id=_partial_id(view, 0))
        member.problems.append(f"the gzip member does not decompress ({exc})")
        return member
    member = check_record(0, length, data)
    if length != len(raw):
        member.problems.append(f"{len(raw) - length} bytes after the gzip member (the reference's length is wrong)")
    return member
