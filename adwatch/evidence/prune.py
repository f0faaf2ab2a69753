"""The archive's part of ``adwatch purge``: WARC records past retention that nothing kept points to.

A record goes when no kept (or held) ad or version refers to it — by file and offset, as the
references in the store name it — and it was fetched (``WARC-Date``) before the evidence cut-off.
A ``warcinfo`` record goes with the last record of its file, never alone.

Each file is handled on its own, crash-safe, with a journal (``prune-journal.json`` in the
archive folder, fsynced at every change of state):

1. ``writing``: the journal names the old file and the new one; the new file gets the kept
   records, each gzip member copied byte for byte (so every digest still holds), then is fsynced.
2. ``written``: the journal adds where each kept record moved (old offset → new offset) and the
   ads whose references point into the old file; the store's references are moved
   (``Store.relocate_evidence``, compare-and-set), checked, and only then is the old file removed.
3. The journal is removed.

A crash in 1 leaves the old file whole: the next run removes the half-written new one. A crash in
2 is finished by the next run (moving references is idempotent). A file with nothing kept is
removed outright: no reference points into it.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from adwatch.core.private import ensure_private_dir, open_private
from adwatch.evidence.refs import ArchivePlace, record_refs
from index.store import Store

JOURNAL = "prune-journal.json"
_PRUNED = re.compile(r"\.p\d{8}T\d{6}Z(?:-\d+)?$")  # the mark a rewrite puts in a file name


@dataclass(frozen=True)
class Record:
    offset: int
    length: int
    type: str
    record_id: str
    date: str


@dataclass
class PruneResult:
    records: list[str] = field(default_factory=list)  # WARC-Record-IDs removed (ids, never contents)
    rewritten: dict[str, str] = field(default_factory=dict)  # old file → new file (relative)
    removed_files: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    problems: list[str] = field(default_factory=list)  # files left as they were, one line each
    recovered: str | None = None  # what a journal from an interrupted run finished

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "rewritten": self.rewritten, "removed_files": self.removed_files,
                "bytes_freed": self.bytes_freed, "problems": self.problems, "recovered": self.recovered}


@dataclass
class References:
    """Where the store's kept ads and versions point: (file, offset) pairs and, per file, the ads."""

    places: set[tuple[str, int]] = field(default_factory=set)
    ads_by_file: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, store: Store, skip_ads: set[str] | None = None,
           skip_versions: set[tuple[str, int]] | None = None) -> References:
        """``skip_*``: ads and versions about to go (a dry run counts what their records would do)."""
        refs = cls()
        for ad_id, version, evidence in store.evidence_refs():
            if skip_ads and ad_id in skip_ads or skip_versions and version is not None \
                    and (ad_id, version) in skip_versions:
                continue
            for ref in record_refs(evidence):
                refs.places.add((ref.warc, ref.offset))
                refs.ads_by_file[ref.warc].add(ad_id)
        return refs


def warc_files(place: ArchivePlace) -> list[Path]:
    if not place.warc_dir.is_dir():
        return []
    return sorted(p for p in place.warc_dir.rglob("*.warc.gz") if p.is_file())


def records(path: Path) -> list[Record]:
    """Every record of a per-record-gzip WARC file with its member's offset and length."""
    found = []
    with open(path, "rb") as fh:
        iterator = ArchiveIterator(fh, no_record_parse=False, check_digests=False)
        for record in iterator:
            offset = iterator.get_record_offset()
            headers = record.rec_headers
            kind, record_id = record.rec_type, headers.get_header("WARC-Record-ID") or ""
            date = headers.get_header("WARC-Date") or ""
            iterator.read_to_end(record)
            found.append(Record(offset, iterator.get_record_length(), kind, record_id, date))
    return found


def expired(record: Record, date_cutoff: str) -> bool:
    """Fetched before the cut-off (``WARC-Date`` may carry fractions of a second: seconds compared)."""
    return record.date[:19] < date_cutoff[:19]


def prune(store: Store, place: ArchivePlace, cutoff: str, now_stamp: str, dry_run: bool = False,
          going_ads: set[str] | None = None, going_versions: set[tuple[str, int]] | None = None) -> PruneResult:
    """Remove the archive's expired, unreferenced records (see the module text). ``now_stamp``:
    ``YYYYmmddTHHMMSSZ``, the mark of rewritten files. With ``dry_run`` nothing changes: the result
    says what would go once ``going_ads`` and ``going_versions`` are gone."""
    result = PruneResult()
    if not dry_run:
        result.recovered = recover(store, place)
    refs = References.of(store, going_ads, going_versions)
    for path in warc_files(place):
        rel = place.relative(path)
        try:
            found = records(path)
        except Exception as exc:  # a damaged or foreign file: left alone, said in one line
            result.problems.append(f"{rel}: not read ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                                   "left as it is")
            continue
        content = [r for r in found if r.type != "warcinfo"]
        gone = [r for r in content if (rel, r.offset) not in refs.places and expired(r, cutoff)]
        if not gone:
            continue
        result.records += [r.record_id for r in gone]
        if len(gone) == len(content):  # nothing kept: the file goes (no reference points into it)
            result.removed_files.append(rel)
            result.bytes_freed += path.stat().st_size
            if not dry_run:
                path.unlink()
                _fsync_dir(path.parent)
            continue
        kept = [r for r in found if r not in gone]
        new_rel = _new_name(place, rel, now_stamp)
        result.rewritten[rel] = new_rel
        result.bytes_freed += sum(r.length for r in gone)
        if not dry_run:
            rewrite(store, place, rel, new_rel, kept, sorted(refs.ads_by_file.get(rel, ())))
    return result


def rewrite(store: Store, place: ArchivePlace, rel: str, new_rel: str, kept: list[Record], ads: list[str],
            stop_after: str | None = None) -> None:
    """Steps 1–3 of the module text for one file. ``stop_after`` ("writing" or "written") stops
    there, as a crash would (the tests of crash safety use it; nothing else should)."""
    journal = {"old": rel, "new": new_rel, "state": "writing"}
    _write_journal(place, journal)
    old_path, new_path = place.resolve(rel), place.resolve(new_rel)
    moves: dict[int, tuple[str, int]] = {}
    fd = open_private(new_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with os.fdopen(fd, "wb") as out, open(old_path, "rb") as src:
        position = 0
        for record in kept:  # each gzip member copied as it lies: the bytes, and so the digests, stay
            src.seek(record.offset)
            member = src.read(record.length)
            if len(member) != record.length:
                raise OSError(f"{rel}: record {record.record_id} at {record.offset} is cut short")
            out.write(member)
            moves[record.offset] = (new_rel, position)
            position += record.length
        out.flush()
        os.fsync(out.fileno())
    _fsync_dir(new_path.parent)
    if stop_after == "writing":
        return
    _write_journal(place, journal | {"state": "written", "size": position, "ads": ads,
                                     "moves": {str(k): v[1] for k, v in moves.items()}})
    if stop_after == "written":
        return
    _finish(store, place, rel, new_rel, moves, ads)


def recover(store: Store, place: ArchivePlace) -> str | None:
    """Finish (or undo) the rewrite an interrupted run left in the journal; what was done, or None."""
    path = place.root / JOURNAL
    if not path.exists():
        return None
    journal = json.loads(path.read_text(encoding="utf-8"))
    rel, new_rel = str(journal["old"]), str(journal["new"])
    new_path = place.resolve(new_rel)
    if journal.get("state") != "written" or not place.resolve(rel).exists() and not new_path.exists():
        # Cut off while the new file was written: the old one is whole; the partial copy goes.
        new_path.unlink(missing_ok=True)
        _fsync_dir(new_path.parent)
        path.unlink()
        return f"undid the unfinished rewrite of {rel}"
    if not new_path.exists() or new_path.stat().st_size != int(journal["size"]):
        raise OSError(f"{new_rel}: the rewritten file the journal {path} names is missing or of the wrong size; "
                      f"{rel} is kept: check both, then remove the journal")
    moves = {int(k): (new_rel, int(v)) for k, v in journal["moves"].items()}
    _finish(store, place, rel, new_rel, moves, list(journal.get("ads") or []))
    return f"finished the rewrite of {rel} into {new_rel}"


def _finish(store: Store, place: ArchivePlace, rel: str, new_rel: str, moves: dict[int, tuple[str, int]],
            ads: list[str]) -> None:
    """Move the references, check none is left in the old file, remove it, drop the journal."""
    for _ in range(3):  # a crawl that rewrote one of these ads meanwhile: moved again
        store.relocate_evidence(ads, rel, moves)
        if not _still_pointing(store, ads, rel, moves):
            break
    else:
        raise OSError(f"{rel}: references into it kept coming back; the file is kept and the journal left for "
                      "the next purge")
    old_path = place.resolve(rel)
    old_path.unlink(missing_ok=True)
    _fsync_dir(old_path.parent)
    (place.root / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(place.root)


def _still_pointing(store: Store, ads: Iterable[str], rel: str, moves: dict[int, tuple[str, int]]) -> bool:
    store.refresh()
    for ad_id in ads:
        ad = store.get_ad(ad_id)
        evidences = [ad.get("evidence")] if ad else []
        evidences += [v.get("evidence") for v in store.ad_versions(ad_id)]
        for evidence in evidences:
            if any(ref.warc == rel and ref.offset in moves for ref in record_refs(evidence)):
                return True
    return False


def _new_name(place: ArchivePlace, rel: str, stamp: str) -> str:
    """``…/x.warc.gz`` → ``…/x.p20271201T031500Z.warc.gz`` (a second rewrite replaces the mark)."""
    folder, name = os.path.split(rel)
    stem = _PRUNED.sub("", name.removesuffix(".warc.gz"))
    candidate, n = f"{stem}.p{stamp}.warc.gz", 1
    while place.resolve(os.path.join(folder, candidate)).exists():
        n += 1
        candidate = f"{stem}.p{stamp}-{n}.warc.gz"
    return os.path.join(folder, candidate)


def _write_journal(place: ArchivePlace, journal: dict[str, Any]) -> None:
    """The journal replaced atomically: written beside, fsynced, renamed, the folder fsynced."""
    ensure_private_dir(place.root)
    target = place.root / JOURNAL
    tmp = place.root / (JOURNAL + ".tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(journal, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    _fsync_dir(place.root)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
