"""What a case holds (``adwatch/evidence/cases.py``), on SQLite and on a real Elasticsearch:
the ads asked for by id, number or search, their versions, and every record they point to,
each checked; and the SURT keys of the case file's index."""

from __future__ import annotations

from pathlib import Path

import pytest

from adwatch.evidence.cases import CaseError, Selector, build_case, select_ads
from adwatch.evidence.wacz import cdx_time, surt
from index.query import SearchQuery
from index.sqlite import SqliteStore
from tests.conftest import Factory
from tests.evidence_fixtures import PHONE_A, build_world


def test_a_case_by_ids_holds_ads_versions_and_records(store_factory: Factory, tmp_path: Path) -> None:
    store = store_factory()
    world = build_world(store, tmp_path / "evidence")
    case = build_case(store, world.place, Selector(ids=("fixture:101", "fixture:103", "fixture:104", "nope")))
    assert [item.ad["id"] for item in case.ads] == ["fixture:101", "fixture:103", "fixture:104"]
    assert case.not_found == ["nope"]
    first = case.ads[0]
    assert first.ad["version"] == 2 and [v["version"] for v in first.versions] == [1]
    assert [c.ref.type for c in first.current] == ["response", "request"]
    # The replaced version points to its own records, in the older file.
    assert [c.ref.type for c in first.earlier[0].checks] == ["response", "request"]
    assert first.earlier[0].checks[0].ref.warc != first.current[0].ref.warc
    assert [c.ref.type for c in case.ads[1].current] == ["response", "request", "resource", "screenshot"]
    assert list(case.ads[2].checks()) == []  # from before archiving: no records, no problem
    assert case.counts() == {"ads": 3, "versions": 1, "records": 8, "ok": 8, "changed": 0, "missing": 0,
                                  "ads_not_found": 1}
    assert case.problems() == ["no ad 'nope'"]


def test_by_phone_and_by_search(store_factory: Factory, tmp_path: Path) -> None:
    store = store_factory()
    world = build_world(store, tmp_path / "evidence")
    by_phone, _ = select_ads(store, Selector(phone=PHONE_A))
    assert sorted(ad["id"] for ad in by_phone) == ["fixture:101", "fixture:103"]
    found = build_case(store, world.place, Selector(search="gävle", query=SearchQuery(text="gävle")))
    assert [item.ad["id"] for item in found.ads] == ["fixture:102"]
    assert found.ads[0].ad["evidence"]["record_id"] == world.blocks["fixture:102"]["record_id"]  # as stored
    assert found.selector.describe() == {"search": "gävle", "query": {"text": "gävle"}}
    with pytest.raises(CaseError, match="narrow it"):
        select_ads(store, Selector(search="", query=SearchQuery()), max_ads=2)


def test_missing_and_changed_records_are_reported_not_fatal(store_factory: Factory, tmp_path: Path) -> None:
    store = store_factory()
    world = build_world(store, tmp_path / "evidence")
    older, newer = sorted(world.place.warc_dir.rglob("*.warc.gz"))
    older.unlink()
    response = world.blocks["fixture:103"]
    data = bytearray(newer.read_bytes())
    data[response["offset"] + response["length"] - 10] ^= 0x01
    newer.write_bytes(bytes(data))
    case = build_case(store, world.place, Selector(ids=("fixture:101", "fixture:103")))
    counts = case.counts()
    assert (counts["missing"], counts["changed"], counts["ok"]) == (2, 1, 5)
    changed = [c for c in case.records() if c.status == "changed"]
    assert [c.ref.record_id for c in changed] == [response["record_id"]]
    problems = case.problems()
    assert len(problems) == 3 and all(line.startswith("warc/2026/11/") for line in problems)


def test_a_reference_outside_the_archive_is_missing(store: SqliteStore, tmp_path: Path) -> None:
    from adwatch.evidence.cases import case_ad

    world = build_world(store, tmp_path / "evidence")
    outside = dict(world.blocks["fixture:102"], warc="../../etc/passwd", related=[])
    checks = case_ad(store, world.place, {"id": "x", "evidence": outside}).current
    assert [c.status for c in checks] == ["missing"] and "outside the archive" in checks[0].detail


@pytest.mark.parametrize("url", ["http://www.Example.com:80/A/b?z=1&a=2#frag", "https://127.0.0.1:8765/annons/102?lang=sv",
                                 "http://example.com", "http://www2.example.com/x", "https://example.org:8443/p"])
def test_surt_keys_match_the_surt_library(url: str) -> None:
    import surt as reference  # installed with wacz (dev)

    assert surt(url) == reference.surt(url)


def test_cdx_time() -> None:
    assert cdx_time("2026-11-28T10:00:00Z") == "20261128100000"
    assert cdx_time("2026-11-28T10:00:00.123456Z") == "20261128100000"


def test_verify_all_reads_every_stored_reference(store_factory: Factory, tmp_path: Path) -> None:
    from adwatch.evidence.verify import verify_all

    store = store_factory()
    world = build_world(store, tmp_path / "evidence")
    assert verify_all(world.place, store).to_dict() | {"bytes": 0} == {
        "ok": True, "files": 2, "records": 12, "bytes": 0, "refs": 10, "findings": []}
    sorted(world.place.warc_dir.rglob("*.warc.gz"))[0].unlink()
    found = verify_all(world.place, store).findings
    assert sorted(f.what.split("): ")[0] + ")" for f in found) == ["missing (ad fixture:101, version 1, request)",
                                                           "missing (ad fixture:101, version 1, response)"]
