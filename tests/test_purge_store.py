"""Purge on both stores: with the clock moved forward, exactly what expired goes, held data stays,
and every way of reading the store (search, facets, phone pivot, trends, registry, versions,
alerts, runs, the audit chain) agrees afterwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from adwatch.audit_cmd import walk
from adwatch.evidence.refs import ArchivePlace
from adwatch.retention.policy import RetentionPolicy
from adwatch.retention.purge import plan, run
from index.query import SearchQuery
from index.store import Store
from index.trends import TrendQuery
from tests.conftest import Factory

YEAR = timedelta(days=365)
POLICY = RetentionPolicy(ads=YEAR, registry=YEAR, evidence=YEAR, alerts=YEAR, runs=2 * YEAR, audit=5 * YEAR)
NOW = datetime(2027, 12, 1, 3, 30, tzinfo=UTC)  # a year and more after the old ads were last seen
OLD, RECENT = "2026-11-20T10:00:00Z", "2027-11-20T10:00:00Z"
P_OLD, P_SHARED, P_HELD, P_RECENT = "+46701740605", "+46701740606", "+46846500400", "+46313900600"


def evidence(n: int, at: str) -> dict[str, Any]:
    return {"warc": f"warc/x-{n}.warc.gz", "offset": 0, "length": 10, "record_id": f"<urn:uuid:{n}>",
            "sha256": "0" * 64, "fetched_at": at, "url": f"http://x/ad/{n}", "related": []}


def ad(n: int, seen: str, phones: list[str], town: str = "Gävle", **over: Any) -> dict[str, Any]:
    lat, lon = {"Gävle": (60.6749, 17.1413), "Malmö": (55.6059, 13.0007)}[town]
    return {"id": f"s:{n}", "source": "s", "url": f"http://x/ad/{n}", "title": f"Annons {n}",
            "text": f"massage nummer {n}", "posted_at": None, "first_seen_at": seen, "last_seen_at": seen,
            "phones": phones, "towns": [{"name": town, "county": None, "lat": lat, "lon": lon, "found_in": "text"}],
            "town": town, "lat": lat, "lon": lon, "content_hash": f"h{n}", "version": 1,
            "evidence": evidence(n, seen)} | over


def world(store: Store) -> None:
    """Ads 1–3 last seen over a year ago, 4–5 recently; 3 is held (its number), 1 has versions."""
    store.write_ads([ad(1, OLD, [P_OLD]), ad(2, OLD, [P_SHARED]), ad(3, OLD, [P_HELD], town="Malmö"),
                     ad(4, RECENT, [P_SHARED]), ad(5, RECENT, [P_RECENT], town="Malmö")])
    # Ad 1 edited twice a year ago: two replaced versions, each with its own evidence.
    store.write_ads([ad(1, "2026-11-21T10:00:00Z", [P_OLD], content_hash="h1b", text="ändrad",
                        evidence=evidence(11, "2026-11-21T10:00:00Z"))])
    store.write_ads([ad(1, "2026-11-22T10:00:00Z", [P_OLD], content_hash="h1c", text="ändrad igen",
                        evidence=evidence(12, "2026-11-22T10:00:00Z"))])
    # Ad 5 edited recently: its version stays.
    store.write_ads([ad(5, "2027-11-25T10:00:00Z", [P_RECENT], content_hash="h5b", town="Malmö",
                        evidence=evidence(51, "2027-11-25T10:00:00Z"))])
    store.add_alerts([
        {"id": "a-old", "key": "k-old", "rule": "r", "kind": "new_number", "phone": P_OLD, "ad": "s:1",
         "town": "Gävle", "created_at": OLD, "details": {}, "deliveries": {}},
        {"id": "a-held", "key": "k-held", "rule": "r", "kind": "new_number", "phone": P_HELD, "ad": "s:3",
         "town": "Malmö", "created_at": OLD, "details": {}, "deliveries": {}},
        {"id": "a-new", "key": "k-new", "rule": "r", "kind": "new_number", "phone": P_RECENT, "ad": "s:5",
         "town": "Malmö", "created_at": RECENT, "details": {}, "deliveries": {}}])
    for started in ("2025-06-01T00:00:00Z", "2027-06-01T00:00:00Z"):
        store.finish_run(store.start_run("s", started), finished_at=started, status="ok")
    for at in ("2021-06-01T00:00:00Z", "2022-06-01T00:00:00Z", "2023-06-01T00:00:00Z", "2027-06-01T00:00:00Z"):
        store.audit_append("anna", "search", {"q": "x"}, 1, at)
    store.add_hold("case-7", "phone", P_HELD, ["s:3"], "cli:tester", "2027-01-01T00:00:00Z")
    store.refresh()


def hits(store: Store, **query: Any) -> list[str]:
    store.refresh()
    return sorted(h["id"] for h in store.search(SearchQuery(limit=100, **query)).hits)


@pytest.fixture
def purged(store_factory: Factory, tmp_path: Path) -> tuple[Store, Any]:
    store = store_factory()
    world(store)
    outcome = run(store, POLICY, NOW, tmp_path / "home", ArchivePlace(tmp_path / "evidence"), "cli:tester")
    store.refresh()
    return store, outcome


def test_purge_removes_exactly_what_expired_and_keeps_what_is_held(purged: tuple[Store, Any]) -> None:
    store, outcome = purged
    assert outcome.removed == {"versions": 0, "ads": 2, "phones": 1, "alerts": 1, "runs": 1, "audit": 2}
    assert sorted(outcome.plan.ads) == ["s:1", "s:2"]
    assert store.get_ad("s:1") is None and store.get_ad("s:2") is None and store.ad_versions("s:1") == []
    assert store.get_ad("s:3") is not None  # held by its number
    assert [v["version"] for v in store.ad_versions("s:5")] == [1]  # replaced recently: kept
    # The registry: the number only purged ads carried goes; the shared one and the held one stay.
    assert store.phone_record(P_OLD) is None
    assert store.phone_record(P_SHARED) is not None and store.phone_record(P_HELD) is not None
    assert [a["id"] for a in store.alerts()] == ["a-new", "a-held"]
    assert [r["started_at"] for r in store.runs()] == ["2027-06-01T00:00:00Z"]


def test_searches_agree_after_purge(purged: tuple[Store, Any]) -> None:
    store, _ = purged
    assert hits(store) == ["s:3", "s:4", "s:5"]
    assert hits(store, text="massage") == ["s:3", "s:4", "s:5"]
    assert hits(store, text="ändrad") == []  # the purged ad's words left the full-text index
    assert hits(store, phone=P_OLD) == [] and hits(store, phone=P_SHARED) == ["s:4"]
    assert hits(store, towns=["Gävle"]) == ["s:4"]
    store.refresh()
    facets = store.search(SearchQuery(limit=0)).facets
    assert facets["town"] == {"Malmö": 2, "Gävle": 1}
    assert [a["id"] for a in store.phone_ads(P_SHARED)] == ["s:4"]
    entry = store.phone_record(P_SHARED)
    assert entry is not None and entry["ads_count"] == 1 and entry["towns"] == ["Gävle"]
    counts = store.trend_counts(TrendQuery(metric="ads", by="town", interval="month"))
    assert sum(counts.values()) == 3
    summary = store.summary()
    assert summary["ads"] == 3 and summary["phones"] == 3


def test_the_audit_log_still_verifies_from_the_purge_anchor(purged: tuple[Store, Any]) -> None:
    store, outcome = purged
    report = walk(store)
    assert report.ok, report.lines()
    chain = store.audit_chain()
    assert chain[0]["seq"] == 3  # entries 1–2 (older than 5 years) went
    assert outcome.entry["action"] == "purge" and outcome.entry["params"]["audit"]["anchor"] == report.start
    assert outcome.entry["params"]["report_sha256"] == outcome.report_sha256
    # A purge entry with an edited anchor, or an entry removed beyond it, is found.
    first = chain[0]
    assert not walk(cast(Store, _Chain(chain[1:], chain))).ok
    assert report.start is not None and first["prev_hash"] == report.start.split(":")[1]


class _Chain:
    """A store's audit chain with its head cut further than any purge recorded."""

    def __init__(self, entries: list[dict[str, Any]], everything: list[dict[str, Any]]) -> None:
        self.entries, self.everything = entries, everything

    def audit_chain(self, after_seq: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["seq"] > after_seq][:limit]

    def audit_entries(self, action: str | None = None, **_: Any) -> list[dict[str, Any]]:
        return [e for e in reversed(self.everything) if action is None or e["action"] == action]


def test_a_second_purge_removes_nothing_more(purged: tuple[Store, Any], tmp_path: Path) -> None:
    store, _ = purged
    again = run(store, POLICY, NOW + timedelta(hours=1), tmp_path / "home", ArchivePlace(tmp_path / "evidence"),
                "cli:tester")
    assert again.removed == {"versions": 0, "ads": 0, "phones": 0, "alerts": 0, "runs": 0, "audit": 0}
    assert walk(store).ok


def test_dry_run_changes_nothing_and_plans_what_a_purge_removes(store_factory: Factory, tmp_path: Path) -> None:
    store = store_factory()
    world(store)
    before = (hits(store), len(store.audit_chain()), store.summary())
    dry = run(store, POLICY, NOW, tmp_path / "home", ArchivePlace(tmp_path / "evidence"), "cli:t", dry_run=True)
    assert (hits(store), len(store.audit_chain()), store.summary()) == before
    assert not (tmp_path / "home").exists()  # no report either
    assert dry.to_dict(True)["counts"]["ads"] == 2 and dry.plan.phones == [P_OLD]


def test_released_hold_keeps_nothing(store_factory: Factory) -> None:
    store = store_factory()
    world(store)
    released = store.release_holds("case-7", "cli:tester", "2027-11-30T00:00:00Z")
    assert [h["released_by"] for h in released] == ["cli:tester"]
    store.refresh()
    assert sorted(plan(store, POLICY, NOW).ads) == ["s:1", "s:2", "s:3"]
    assert [h["released_at"] for h in store.holds(case="case-7")] == ["2027-11-30T00:00:00Z"]  # still listed


def test_versions_expire_on_their_own_and_keep_their_evidence(store_factory: Factory) -> None:
    store = store_factory()
    store.write_ads([ad(8, "2026-10-01T00:00:00Z", [])])
    store.write_ads([ad(8, RECENT, [], content_hash="h8b", evidence=evidence(81, RECENT))])
    versions = store.ad_versions("s:8")
    assert versions[0]["evidence"]["record_id"] == "<urn:uuid:8>"  # the replaced version's own records
    assert store.get_ad("s:8")["evidence"]["record_id"] == "<urn:uuid:81>"  # type: ignore[index]
    # Replaced at RECENT: kept a year from then; two years on it goes, the ad (seen then) too.
    assert plan(store, POLICY, NOW).versions == []
    later = plan(store, POLICY, NOW + YEAR)
    assert later.ads == ["s:8"] and later.versions == []  # going with its ad


def test_registry_entry_outlives_its_ads_until_the_look_back(store_factory: Factory) -> None:
    # Ads kept 30 days, registry 30 days, look-back 365 days: the number's ads go after 30 days,
    # its registry entry only once it has been unseen for the look-back, so it is not "new" sooner.
    store = store_factory()
    store.write_ads([ad(9, OLD, [P_OLD])])
    store.refresh()
    short = RetentionPolicy(ads=timedelta(days=30), registry=timedelta(days=30), evidence=YEAR, alerts=YEAR,
                            runs=YEAR, audit=YEAR, lookback=timedelta(days=365))
    soon = datetime(2027, 1, 15, tzinfo=UTC)
    first = plan(store, short, soon)
    assert first.ads == ["s:9"] and first.phones == []
    store.purge_ads(first.ads)
    store.refresh()
    entry = store.phone_record(P_OLD)
    assert entry is not None and entry["last_seen_at"] == OLD and entry["ads_count"] == 0
    assert store.write_ads([ad(10, "2027-01-16T00:00:00Z", [P_OLD])]).new_phones == frozenset()  # not new
    store.purge_ads(["s:10"])
    store.refresh()
    assert plan(store, short, datetime(2027, 12, 1, tzinfo=UTC)).phones == []  # 16 Jan + 365 d not passed
    assert plan(store, short, datetime(2028, 1, 17, tzinfo=UTC)).phones == [P_OLD]
    assert store.purge_phones([P_OLD]) == 1 and store.phone_record(P_OLD) is None
    assert store.write_ads([ad(11, "2028-01-18T00:00:00Z", [P_OLD])]).new_phones == frozenset({P_OLD})


@pytest.mark.parametrize(("back_on", "alerted"), [("2025-03-01", []), ("2026-11-20", [("near-e4", "2026-11-20")])])
def test_alerts_count_the_look_back_from_purged_ads(store_factory: Factory, tmp_path: Path, back_on: str,
                                                    alerted: list[tuple[str, str]]) -> None:
    """A number whose ads were purged (its registry entry kept) is new again only after the look-back
    from its last sighting, as when its ads were still there."""
    from alerts.engine import AlertEngine
    from geo.highways import roads
    from tests.test_alerts import RULES, config, write
    from tests.test_alerts import ad as alert_ad

    store = store_factory()
    eng = AlertEngine(config(tmp_path, RULES.replace("lookback_days: null", "lookback_days: 180")), store, roads())
    phone = "+46701740661"
    first = alert_ad("Tierp", phone, day="2025-01-10")
    assert [a["rule"] for a in write(eng, first)] == ["near-e4"]
    assert store.purge_ads([first["id"]]) == 1  # its ad past retention; the registry entry stays
    store.refresh()
    entry = store.phone_record(phone)
    assert entry is not None and entry["purged_last_seen_at"] == first["last_seen_at"]
    back = write(eng, alert_ad("Tierp", phone, day=back_on))
    assert [(a["rule"], a["details"]["episode"]) for a in back] == alerted
