"""The archive's part of purge, on real WARC files (warcio, one gzip member per record) and both
stores: expired records nothing kept points to go, files are rewritten without them (the kept
records byte for byte, their references moved) or removed when empty; a crash at any step loses
nothing unexpired and the next run finishes."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from adwatch.evidence import prune as prune_mod
from adwatch.evidence.refs import ArchivePlace, RecordRef, read_member, record_refs
from adwatch.retention.policy import RetentionPolicy
from adwatch.retention.purge import run
from index.store import Store
from tests.conftest import Factory

YEAR = timedelta(days=365)
POLICY = RetentionPolicy(ads=YEAR, registry=YEAR, evidence=YEAR, alerts=YEAR, runs=YEAR, audit=5 * YEAR)
NOW = datetime(2027, 12, 1, 3, 30, tzinfo=UTC)
OLD, RECENT = "2026-11-20T10:00:00Z", "2027-11-20T10:00:00Z"


def write_warc(path: Path, records: list[tuple[str, str, str, bytes]]) -> dict[str, dict[str, Any]]:
    """(name, type, date, body) → a per-record-gzip WARC; returns each record's reference by name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    refs: dict[str, dict[str, Any]] = {}
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        info = writer.create_warcinfo_record(path.name, {"software": "adwatch-test"})
        writer.write_record(info)
        for name, kind, date, body in records:
            url = f"http://127.0.0.1/{name}"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1") \
                if kind == "response" else StatusAndHeaders(f"GET /{name} HTTP/1.1", [("Host", "127.0.0.1")],
                                                             is_http_request=True)
            record = writer.create_warc_record(url, kind, payload=io.BytesIO(body), length=len(body), http_headers=http,
                                               warc_headers_dict={"WARC-Date": date})
            start = fh.tell()
            writer.write_record(record)
            refs[name] = {"warc": "", "offset": start,
                          "length": fh.tell() - start, "record_id": record.rec_headers.get_header("WARC-Record-ID"),
                          "sha256": hashlib.sha256(body).hexdigest(), "fetched_at": date, "url": url}
    return refs


def payload(place: ArchivePlace, ref: RecordRef) -> tuple[str, str]:
    """(record id, sha256 of the payload) of the record a reference points to."""
    member = read_member(place, ref)
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    return record.rec_headers.get_header("WARC-Record-ID"), hashlib.sha256(record.raw_stream.read()).hexdigest()


def ad(n: int, seen: str, ev: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "title": f"Annons {n}", "text": "massage",
            "first_seen_at": seen, "last_seen_at": seen, "phones": [], "towns": [], "content_hash": f"h{n}",
            "version": 1, "evidence": ev}


def with_related(response: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    return response | {"related": [request | {"type": "request"}]}


class Archive:
    def __init__(self, root: Path) -> None:
        self.place = ArchivePlace(root)
        self.a = root / "warc" / "2026" / "11" / "demo-a-00001.warc.gz"
        self.b = root / "warc" / "2026" / "11" / "demo-b-00001.warc.gz"
        self.c = root / "warc" / "2027" / "11" / "demo-c-00001.warc.gz"
        ra = write_warc(self.a, [("kept", "response", OLD, b"<p>kept ad</p>"), ("kept-request", "request", OLD, b""),
                                 ("gone", "response", OLD, b"<p>expired listing</p>"),
                                 ("held", "response", OLD, b"<p>held ad</p>"),
                                 ("purged", "response", OLD, b"<p>purged ad</p>")])
        rb = write_warc(self.b, [("lone", "response", OLD, b"<p>old listing</p>")])
        rc = write_warc(self.c, [("fresh", "response", RECENT, b"<p>recent listing</p>")])
        for refs, path in ((ra, self.a), (rb, self.b), (rc, self.c)):
            for ref in refs.values():
                ref["warc"] = self.place.relative(path)
        self.refs = ra
        self.lone = rb["lone"]
        self.c_bytes = self.c.read_bytes()

    def fill(self, store: Store) -> None:
        # s:4 seen recently points into old records (kept as long as the ad); s:3 is held; s:1 expires.
        store.write_ads([ad(4, RECENT, with_related(self.refs["kept"], self._request())),
                         ad(3, OLD, self.refs["held"]), ad(1, OLD, self.refs["purged"])])
        store.add_hold("case-1", "ad", "s:3", ["s:3"], "cli:t", OLD)
        store.refresh()

    def _request(self) -> dict[str, Any]:
        return self.refs["kept-request"] | {"sha256": hashlib.sha256(b"").hexdigest()}


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return Archive(tmp_path / "evidence")


def files(place: ArchivePlace) -> list[str]:
    return sorted(place.relative(p) for p in prune_mod.warc_files(place))


def check_kept(store: Store, place: ArchivePlace) -> None:
    """Every reference a kept ad or version holds points to its record, whose payload digest matches."""
    for _, _, ev in store.evidence_refs():
        for ref in record_refs(ev):
            assert payload(place, ref) == (ref.record_id, ref.sha256)


def test_purge_rewrites_files_without_expired_records(store_factory: Factory, archive: Archive,
                                                      tmp_path: Path) -> None:
    store = store_factory()
    archive.fill(store)
    before = files(archive.place)
    outcome = run(store, POLICY, NOW, tmp_path / "home", archive.place, "cli:t")
    store.refresh()
    ev = outcome.evidence
    assert sorted(ev.records) == sorted([archive.refs["gone"]["record_id"], archive.refs["purged"]["record_id"],
                                         archive.lone["record_id"]])
    assert ev.removed_files == [archive.place.relative(archive.b)]  # nothing kept in it: removed
    (old, new), = ev.rewritten.items()
    assert old == archive.place.relative(archive.a) and not archive.a.exists()
    assert files(archive.place) == sorted([new, archive.place.relative(archive.c)]) and len(before) == 3
    assert archive.c.read_bytes() == archive.c_bytes  # recent: untouched
    kept = store.get_ad("s:4")["evidence"]  # type: ignore[index]
    assert kept["warc"] == new and kept["related"][0]["warc"] == new
    check_kept(store, archive.place)  # held and kept records verify at their new places
    held = store.get_ad("s:3")["evidence"]  # type: ignore[index]
    assert held["warc"] == new and held["offset"] < archive.refs["held"]["offset"]  # moved up: "gone" went
    with open(archive.place.resolve(new), "rb") as fh:
        ids = [r.rec_headers.get_header("WARC-Record-ID") for r in ArchiveIterator(fh)]
    assert archive.refs["gone"]["record_id"] not in ids and archive.refs["held"]["record_id"] in ids
    assert oct(os.stat(archive.place.resolve(new)).st_mode & 0o777) == "0o600"
    assert not (archive.place.root / prune_mod.JOURNAL).exists()


def test_dry_run_touches_no_file(store_factory: Factory, archive: Archive, tmp_path: Path) -> None:
    store = store_factory()
    archive.fill(store)
    snapshot = {p: p.read_bytes() for p in (archive.a, archive.b, archive.c)}
    dry = run(store, POLICY, NOW, tmp_path / "home", archive.place, "cli:t", dry_run=True)
    assert len(dry.evidence.records) == 3 and dry.evidence.removed_files == [archive.place.relative(archive.b)]
    assert {p: p.read_bytes() for p in snapshot} == snapshot and files(archive.place) == sorted(
        archive.place.relative(p) for p in snapshot)
    assert store.get_ad("s:1") is not None


@pytest.mark.parametrize("stop", ["writing", "written"])
def test_a_rewrite_cut_short_is_finished_by_the_next_run(store_factory: Factory, archive: Archive,
                                                         tmp_path: Path, stop: str) -> None:
    store = store_factory()
    archive.fill(store)
    rel = archive.place.relative(archive.a)
    found = prune_mod.records(archive.a)
    refs = prune_mod.References.of(store)
    kept = [r for r in found if r.type == "warcinfo" or (rel, r.offset) in refs.places]
    new_rel = rel.replace(".warc.gz", ".p20271201T033000Z.warc.gz")
    # The crash: the rewrite stops after this step, as if the process died there.
    prune_mod.rewrite(store, archive.place, rel, new_rel, kept, sorted(refs.ads_by_file[rel]), stop_after=stop)
    assert archive.a.exists()  # nothing is lost: the old file is whole until the references moved
    check_kept(store, archive.place)
    outcome = run(store, POLICY, NOW, tmp_path / "home", archive.place, "cli:t")
    store.refresh()
    assert outcome.evidence.recovered and ("undid" in outcome.evidence.recovered) == (stop == "writing")
    assert not archive.a.exists() and not archive.b.exists()
    check_kept(store, archive.place)
    assert len(files(archive.place)) == 2 and not (archive.place.root / prune_mod.JOURNAL).exists()


def test_a_real_fault_mid_purge_loses_nothing_and_a_rerun_finishes(store_factory: Factory, archive: Archive,
                                                                   tmp_path: Path) -> None:
    store = store_factory()
    archive.fill(store)
    blocker = archive.place.root / (prune_mod.JOURNAL + ".tmp")
    blocker.mkdir()  # the journal cannot be written (a folder in its way): the archive step fails
    with pytest.raises(OSError):
        run(store, POLICY, NOW, tmp_path / "home", archive.place, "cli:t")
    store.refresh()
    assert store.get_ad("s:1") is None  # the store's part was done …
    assert archive.a.exists() and store.get_ad("s:4") is not None  # … and nothing unexpired is lost
    check_kept(store, archive.place)
    blocker.rmdir()
    again = run(store, POLICY, NOW, tmp_path / "home", archive.place, "cli:t")
    store.refresh()
    assert len(again.evidence.records) == 3 and not archive.a.exists()
    check_kept(store, archive.place)
    actions = [e["action"] for e in store.audit_chain()]
    assert actions == ["purge.start", "purge.start", "purge"]  # the failed run said what it set out to do
