"""The evidence reference an ad carries, and where the archive lives.

An ad's ``evidence`` field is a dict. Next to ``truncated`` (normalize's cuts, field → original
length) it holds the record the ad was read from, flat, and the records that go with it::

    {"warc": "warc/2026/12/demo-a-20261201T081500Z-1a2b3c-00001.warc.gz",  # relative to the archive
     "offset": 1234, "length": 5678,        # the record's gzip member in that file (as CDX has them)
     "record_id": "<urn:uuid:…>",           # WARC-Record-ID of the response record
     "sha256": "…",                         # hex SHA-256 of the HTTP payload as the server sent it
     "fetched_at": "2026-12-01T08:15:02Z",  # WARC-Date
     "url": "http://…",                     # WARC-Target-URI
     "related": [                           # same keys (no "related"), plus "type":
         {"type": "request" | "resource" | "screenshot", "warc": …, "offset": …, "length": …,
          "record_id": …, "sha256": …, "fetched_at": …, "url": …}]}

A new version of an ad carries the records of the page it was read from that time; the store
keeps each replaced version's ``evidence`` with the version.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The keys of a record reference; "type" only in "related".
REF_KEYS = ("warc", "offset", "length", "record_id", "sha256", "fetched_at", "url")
RELATED_TYPES = ("request", "resource", "screenshot")


@dataclass(frozen=True)
class RecordRef:
    """Where one WARC record is: file (relative to the archive folder), gzip member, identity."""

    warc: str
    offset: int
    length: int
    record_id: str
    sha256: str
    fetched_at: str
    url: str
    type: str = "response"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], type_: str = "response") -> RecordRef:
        return cls(warc=str(raw["warc"]), offset=int(raw["offset"]), length=int(raw["length"]),
                   record_id=str(raw["record_id"]), sha256=str(raw["sha256"]),
                   fetched_at=str(raw["fetched_at"]), url=str(raw["url"]),
                   type=str(raw.get("type") or type_))


def evidence_block(response: RecordRef, related: list[RecordRef] | None = None) -> dict[str, Any]:
    """The part of an ad's ``evidence`` that points to its records (``truncated`` is merged by normalize)."""
    block: dict[str, Any] = {key: getattr(response, key) for key in REF_KEYS}
    block["related"] = [ref.to_dict() for ref in related or []]
    return block


def record_refs(evidence: Mapping[str, Any] | None) -> Iterator[RecordRef]:
    """Every record an ad's (or a version's) ``evidence`` points to: the response first, then the related.
    An ad without archived evidence (archiving off, or from before it existed) has none."""
    if not evidence or "record_id" not in evidence:
        return
    yield RecordRef.from_dict(evidence)
    for raw in evidence.get("related") or []:
        yield RecordRef.from_dict(raw, type_=str(raw.get("type") or "resource"))


@dataclass(frozen=True)
class ArchivePlace:
    """The archive folder and how a reference's file name resolves inside it (never outside)."""

    root: Path

    @classmethod
    def from_settings(cls, settings: Any) -> ArchivePlace:
        chosen = str(settings.get("ADWATCH_EVIDENCE_DIR") or "")
        root = Path(chosen) if chosen else Path(str(settings.get("ADWATCH_HOME"))) / "evidence"
        return cls(root=root)

    @property
    def warc_dir(self) -> Path:
        return self.root / "warc"

    def resolve(self, warc: str) -> Path:
        """The file a reference names; a name that would leave the archive is refused (ValueError)."""
        path = (self.root / warc).resolve()
        root = self.root.resolve()
        if root != path and root not in path.parents:
            raise ValueError(f"evidence file {warc!r} is outside the archive {self.root}")
        return path

    def relative(self, path: Path) -> str:
        return os.path.relpath(path.resolve(), self.root.resolve())


def read_member(place: ArchivePlace, ref: RecordRef) -> bytes:
    """The record's gzip member as it lies in its file (``length`` bytes at ``offset``); OSError or
    ValueError (short read, outside the archive) when it is not there."""
    path = place.resolve(ref.warc)
    with open(path, "rb") as fh:
        fh.seek(ref.offset)
        data = fh.read(ref.length)
    if len(data) != ref.length:
        raise ValueError(f"{ref.warc}: record {ref.record_id} at {ref.offset} is cut short "
                         f"({len(data)} of {ref.length} bytes)")
    return data
