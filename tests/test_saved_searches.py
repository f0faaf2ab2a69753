"""Saved searches: kept by both stores (``index.store.SavedSearchStore``), and checked by the
``saved_search`` alert rule against every written batch, in real time and on replay, up to a
real crawl of the demo site that alerts through the file channel."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from adwatch.demo import DemoSite
from alerts.engine import AlertEngine, load_config
from alerts.model import summary_line
from config.alerts_schema import AlertsConfig
from config.settings import ADWATCH_DEFAULT_REGION
from geo.gazetteer import gazetteer
from geo.highways import roads
from index.query import Near, SearchQuery
from index.saved import NAME_MAX_CHARS
from index.sqlite import SqliteStore
from index.sqlite_schema import MIGRATIONS
from index.store import Store
from tests.conftest import Factory, run_json


@pytest.fixture
def store(store_factory: Factory) -> Store:
    return store_factory()


MASSAGE = SearchQuery(text="massage").to_dict()


# --- the store part ------------------------------------------------------------------------

def test_a_saved_search_round_trips_oldest_first_per_owner(store_factory: Factory) -> None:
    store = store_factory()
    query = SearchQuery(text="massage -thai", towns=["Gävle"], counties=["Gävleborgs län"], categories=["movement"],
                        min_score=1.5, near=Near(60.67, 17.14, 25.0), sort="score").to_dict()
    second = store.save_search("ann", "Gävle, touring", query, "2026-11-21T08:00:00Z")
    first = store.save_search("ann", "all massage", MASSAGE, "2026-11-20T08:00:00Z")
    other = store.save_search("bob", "bob's", MASSAGE, "2026-11-22T08:00:00Z")
    assert len({first["id"], second["id"], other["id"]}) == 3 and len(first["id"]) == 16
    assert set(first) == {"id", "owner", "name", "query", "created_at"}

    again = store_factory()  # another connection: it is stored, not cached
    assert again.saved_searches("ann") == [first, second]
    assert again.saved_searches() == [first, second, other]
    assert again.saved_searches("carl") == []
    assert SearchQuery.from_dict(again.saved_searches("ann")[1]["query"]) == SearchQuery.from_dict(query)


def test_only_the_owner_deletes_a_search_unless_an_admin_does(store: Store) -> None:
    mine = store.save_search("ann", "mine", MASSAGE, "2026-11-20T08:00:00Z")
    theirs = store.save_search("bob", "theirs", MASSAGE, "2026-11-20T09:00:00Z")
    assert store.delete_saved_search(mine["id"], owner="bob") is False  # not bob's
    assert store.saved_searches() == [mine, theirs]
    assert store.delete_saved_search(mine["id"], owner="ann") is True
    assert store.delete_saved_search(mine["id"], owner="ann") is False  # already gone
    for nonsense in ("", "no-such-id", "../" * 300, "x\x00y"):
        assert store.delete_saved_search(nonsense) is False
    assert store.saved_searches() == [theirs]
    assert store.delete_saved_search(theirs["id"]) is True  # owner None: an admin
    assert store.saved_searches() == []


HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(document.cookie)",
    "<svg onload=alert(1)>",
    "'; DROP TABLE saved_searches; --",
    "line one\nline two\r\n\tTabbed",
    "\x1b[31mred\x1b[0m\x07 and a NUL \x00 here",
    "\u202eevil\u202c mirrored \u2066isolated\u2069",
    "Ünïcödé 🚨 Русская ✓",
    "{\"json\": [1, 2]} {{ template }} {% block %}",
]


def test_hostile_names_are_kept_exactly_as_given(store: Store) -> None:
    saved = [store.save_search("ann", name, SearchQuery(text=name, towns=[name]).to_dict(),
                               f"2026-11-20T08:00:{n:02d}Z") for n, name in enumerate(HOSTILE_NAMES)]
    found = store.saved_searches("ann")
    assert found == saved and [s["name"] for s in found] == HOSTILE_NAMES
    assert [(s["query"]["text"], s["query"]["towns"]) for s in found] == [(name, [name]) for name in HOSTILE_NAMES]


def test_a_long_name_is_capped_and_an_unstorable_character_replaced(store: Store) -> None:
    long = store.save_search("ann", "ä" * 1000, MASSAGE, "2026-11-20T08:00:00Z")
    # A lone surrogate (JSON can carry one as an escape; neither store can keep it) becomes U+FFFD.
    odd = store.save_search("ann", "a\ud800b", SearchQuery(text="a\udfffb").to_dict(), "2026-11-20T09:00:00Z")
    assert [s["name"] for s in store.saved_searches("ann")] == ["ä" * NAME_MAX_CHARS, "a\ufffdb"]
    assert long["name"] == "ä" * NAME_MAX_CHARS and odd["query"]["text"] == "a\ufffdb"


def test_an_older_sqlite_database_gains_the_table_when_opened(tmp_path: Path) -> None:
    """A store written before saved searches (schema v6) upgrades in place and keeps its data."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    for version, script in MIGRATIONS:
        if version <= 6:
            old.executescript(script)
    old.execute("PRAGMA user_version = 6")
    old.close()
    store = SqliteStore(path)
    try:
        assert store.schema_version() >= 7
        saved = store.save_search("ann", "kept", MASSAGE, "2026-11-20T08:00:00Z")
        assert store.saved_searches() == [saved]
    finally:
        store.close()


# --- the alert rule --------------------------------------------------------------------------

RULES = """
new_numbers: {baseline_first_crawl: false, lookback_days: null}
rules:
  saved:
    type: saved_search
channels: {}
"""

_serial = iter(range(1, 10_000))


def config(tmp_path: Path, text: str = RULES) -> AlertsConfig:
    path = tmp_path / "alerts.yaml"
    path.write_text(text, encoding="utf-8")
    found, problems = load_config(path, ADWATCH_DEFAULT_REGION)
    assert problems == []
    return found


def ad(text: str, town: str = "Gävle", phones: tuple[str, ...] = ("+46701740660",), day: str = "2026-11-20",
       score: float = 0.0) -> dict[str, Any]:
    n = next(_serial)
    place = gazetteer(ADWATCH_DEFAULT_REGION).resolve(town)
    assert place is not None
    return {
        "id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "title": f"Annons {n}", "text": text,
        "posted_at": f"{day}T12:00:00Z", "first_seen_at": f"{day}T13:00:00Z", "last_seen_at": f"{day}T13:00:00Z",
        "phones": list(phones), "content_hash": f"h{n}", "version": 1, "indicator_score": score,
        "town": place.name, "county": place.county, "lat": place.lat, "lon": place.lon,
        "towns": [{"name": place.name, "county": place.county, "lat": place.lat, "lon": place.lon}],
    }


def write(engine: AlertEngine, *ads: dict[str, Any]) -> list[dict[str, Any]]:
    outcome = engine.store.write_ads(list(ads))
    return engine.on_written(list(ads), outcome.first_sightings)


def test_one_alert_per_matching_ad_of_a_written_batch_and_none_for_the_rest(store: Store,
                                                                           tmp_path: Path) -> None:
    engine = AlertEngine(config(tmp_path), store, roads())
    massage = store.save_search("ann", "Massage <b>overall</b>", MASSAGE, "2026-11-19T08:00:00Z")
    sundsvall = store.save_search("bob", "Sundsvall", SearchQuery(towns=["Sundsvall"]).to_dict(),
                                  "2026-11-19T09:00:00Z")
    store.save_search("bob", "never", SearchQuery(text="konsertbiljetter").to_dict(), "2026-11-19T10:00:00Z")
    earlier = ad("massage i Gävle")
    first = write(engine, earlier)
    assert [(a["ad"], a["details"]["search_id"]) for a in first] == [(earlier["id"], massage["id"])]

    hit = ad("Avslappnande massage, ring", "Sundsvall", phones=("+46701740661", "+46701740662"))
    no_phone = ad("massage utan nummer", phones=())
    miss = ad("helt annan text", "Gävle", phones=("+46701740663",))
    created = write(engine, hit, no_phone, miss)
    pairs = sorted((a["details"]["search_id"], a["ad"]) for a in created)
    assert pairs == sorted([(massage["id"], hit["id"]), (massage["id"], no_phone["id"]),
                            (sundsvall["id"], hit["id"])])
    assert {a["kind"] for a in created} == {"saved_search"} and {a["rule"] for a in created} == {"saved"}
    one = next(a for a in created if a["ad"] == hit["id"] and a["details"]["search_id"] == massage["id"])
    assert one["phone"] == "+46701740661" and one["town"] == "Sundsvall"
    assert one["details"].items() >= {"search_id": massage["id"], "search_name": "Massage <b>overall</b>",
                                      "owner": "ann", "url": hit["url"]}.items()
    assert next(a for a in created if a["ad"] == no_phone["id"])["phone"] == ""
    assert summary_line(one) == f"[saved] saved search 'Massage <b>overall</b>' (ann): new ad {hit['id']} in Sundsvall"
    assert sorted(a["id"] for a in store.alerts(rule="saved")) == sorted(a["id"] for a in [*first, *created])

    # The same ads again (an update, a second crawl): nothing new.
    assert write(engine, hit | {"text": "massage, nu med ny text", "content_hash": "changed"}) == []


def test_replay_raises_what_real_time_missed_and_never_twice(store: Store, tmp_path: Path) -> None:
    engine = AlertEngine(config(tmp_path), store, roads())
    old = ad("massage förra månaden", day="2026-10-01")
    recent = [ad("massage i Gävle", day="2026-11-20"), ad("massage igen", "Sundsvall", day="2026-11-21")]
    store.write_ads([old, *recent])  # written while the rules were off (or their check was lost)
    store.save_search("ann", "massage", MASSAGE, "2026-11-19T08:00:00Z")

    replayed = engine.store_alerts(engine.evaluate_since("2026-11-01T00:00:00Z"))
    assert sorted(a["ad"] for a in replayed) == sorted(a["id"] for a in recent)  # not the one of October
    assert engine.store_alerts(engine.evaluate_since("2026-11-01T00:00:00Z")) == []  # idempotent
    # Real time after the replay: a later sighting of the same ad adds nothing; a new ad does.
    assert write(engine, recent[0] | {"last_seen_at": "2026-11-22T13:00:00Z"}) == []
    fresh = ad("massage, ny annons", day="2026-11-22")
    assert [a["ad"] for a in write(engine, fresh)] == [fresh["id"]]
    assert engine.store_alerts(engine.evaluate_since("2026-10-01T00:00:00Z")) != []  # October, first time
    assert engine.store_alerts(engine.evaluate_since("2026-10-01T00:00:00Z")) == []


def test_a_broken_saved_search_is_logged_in_one_line_and_skipped(store: Store, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    engine = AlertEngine(config(tmp_path), store, roads())
    unparsable_text = store.save_search("ann", "quotes only", {"text": '"""'}, "2026-11-19T08:00:00Z")
    unknown_shape = store.save_search("ann", "bad near", {"near": {"north": 1}}, "2026-11-19T09:00:00Z")
    bad_date = store.save_search("bob", "bad date", {"since": "yesterday\nand more"}, "2026-11-19T10:00:00Z")
    not_a_list = store.save_search("bob", "hand-edited", {"towns": 5}, "2026-11-19T10:30:00Z")
    good = store.save_search("bob", "good", MASSAGE, "2026-11-19T11:00:00Z")
    batch = ad("massage i Gävle")
    with caplog.at_level(logging.ERROR, logger="alerts.engine"):
        created = write(engine, batch)
    assert [(a["details"]["search_id"], a["ad"]) for a in created] == [(good["id"], batch["id"])]
    lines = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(lines) == 4 and all("\n" not in line for line in lines)
    for broken in (unparsable_text, unknown_shape, bad_date, not_a_list):
        assert sum(broken["id"] in line for line in lines) == 1
    # Replay skips them the same way, and still finds the good one's ad (already alerted: nothing new).
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="alerts.engine"):
        assert engine.store_alerts(engine.evaluate_since("2026-11-01T00:00:00Z")) == []
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 4


def test_min_score_and_the_rules_own_channels(tmp_path: Path) -> None:
    text = RULES.replace("type: saved_search", "type: saved_search\n    min_score: 2\n    channels: [file]").replace(
        "channels: {}", "channels:\n  file: {type: file, path: alerts.jsonl}\n  log: {type: log}")
    store = SqliteStore(tmp_path / "m.db")
    try:
        engine = AlertEngine(config(tmp_path, text), store, roads())
        store.save_search("ann", "massage", MASSAGE, "2026-11-19T08:00:00Z")
        low, high = ad("massage", score=1.0), ad("massage", score=3.5)
        (created,) = write(engine, low, high)
        assert created["ad"] == high["id"] and list(created["deliveries"]) == ["file"]
    finally:
        store.close()


def test_a_hostile_name_stays_one_inert_line_in_logs_and_subjects() -> None:
    record = {"rule": "saved", "kind": "saved_search", "phone": "", "ad": "s:1", "town": "Gävle",
              "details": {"search_name": "x\nSubject: spoof\x1b[2J\u202e", "owner": "ann\r\nbcc: all"}}
    line = summary_line(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u202e" not in line
    assert line == ("[saved] saved search 'x\\x0aSubject: spoof\\x1b[2J\\u202e' (ann\\x0d\\x0abcc: all): "
                    "new ad s:1 in Gävle")


def test_the_rule_type_is_checked_like_the_others(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("rules:\n  s: {type: saved_search, min_score: -1}\n  t: {type: saved_search, towns: [x]}\n",
                    encoding="utf-8")
    found, problems = load_config(path, ADWATCH_DEFAULT_REGION)
    assert found.rules == {} and sorted(p.field for p in problems) == ["rules.s.min_score", "rules.t.towns"]


# --- a real crawl ------------------------------------------------------------------------------

ALERTS = """
new_numbers: {baseline_first_crawl: true, lookback_days: null}
rules:
  saved:
    type: saved_search
channels:
  file: {type: file, path: alerts.jsonl}
"""


def test_a_search_saved_before_a_crawl_alerts_on_the_new_ads_it_matches(demo_site: DemoSite, home: Path,
                                                                        tmp_path: Path) -> None:
    store = SqliteStore(home / "adwatch.db")  # the store the crawl writes to
    massage = store.save_search("ann", "<script>alert('massage')</script>", MASSAGE, "2026-11-01T00:00:00Z")
    store.save_search("bob", "nothing", SearchQuery(text="konsertbiljetter").to_dict(), "2026-11-01T00:00:00Z")
    broken = store.save_search("bob", "broken", {"text": '"""'}, "2026-11-01T00:00:00Z")
    store.close()
    env = {"ADWATCH_ALERTS": str(config_file(tmp_path))}

    (run,) = run_json("crawl", "nightlist", "--base-url", demo_site.base_url, home=home, env=env, timeout=300)
    assert run["status"] == "ok"  # a broken saved search never fails the crawl

    store = SqliteStore(home / "adwatch.db")
    try:
        matching = {hit["id"] for hit in store.search(SearchQuery(text="massage", limit=10_000)).hits}
        alerts = store.alerts(rule="saved", limit=10_000)
    finally:
        store.close()
    assert matching, "the demo site has massage ads"
    # Every matching ad once (a first crawl is no baseline for saved searches), nothing else.
    assert sorted(a["ad"] for a in alerts) == sorted(matching)
    assert {a["details"]["search_id"] for a in alerts} == {massage["id"]}
    assert run["stats"]["adwatch/alerts/raised"] == len(alerts)
    delivered = [json.loads(line) for line in (home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(d["id"] for d in delivered) == sorted(a["id"] for a in alerts)
    assert all(d["kind"] == "saved_search" and d["summary"].startswith(
        "[saved] saved search '<script>alert('massage')</script>' (ann): new ad ") for d in delivered)
    assert broken["id"] not in {d["details"]["search_id"] for d in delivered}


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(ALERTS, encoding="utf-8")
    return path
