"""Alert rules, the engine over a real SQLite store, and the config file's checks."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from alerts.engine import AlertEngine, load_config
from config.alerts_schema import AlertsConfig
from config.settings import ADWATCH_DEFAULT_REGION
from geo.gazetteer import gazetteer
from geo.highways import roads
from index.sqlite import SqliteStore

RULES = """
new_numbers: {baseline_first_crawl: false, lookback_days: null}
rules:
  near-e4:
    type: new_number_near_highway
    max_km: 5
    roads: [E4]
  near-any:
    type: new_number_near_highway
    max_km: 10
    min_score: 1.0
  travelling:
    type: number_moves_along_highway
    min_towns: 3
    within_days: 14
    max_km: 10
    roads: [E4]
  watched:
    type: new_number_in_town
    towns: [Gävle, jonkoping]
channels: {}
"""


def config(tmp_path: Path, text: str = RULES) -> AlertsConfig:
    path = tmp_path / "alerts.yaml"
    path.write_text(text, encoding="utf-8")
    found, problems = load_config(path, ADWATCH_DEFAULT_REGION)
    assert problems == []
    return found


_serial = iter(range(1, 10_000))


def ad(town: str | None, phone: str, day: str = "2026-11-20", score: float = 0.0, source: str = "s",
       **over: Any) -> dict[str, Any]:
    n = next(_serial)
    place = gazetteer(ADWATCH_DEFAULT_REGION).resolve(town) if town else None
    found = {
        "id": f"{source}:{n}", "source": source, "url": f"http://x/{n}", "title": "t", "text": "x",
        "posted_at": f"{day}T12:00:00Z", "first_seen_at": f"{day}T13:00:00Z", "last_seen_at": f"{day}T13:00:00Z",
        "phones": [phone], "content_hash": f"h{n}", "version": 1, "indicator_score": score,
        "town": place.name if place else None, "county": place.county if place else None,
        "lat": place.lat if place else None, "lon": place.lon if place else None,
        "towns": [{"name": place.name, "county": place.county, "lat": place.lat, "lon": place.lon}] if place else [],
    }
    return found | over


@pytest.fixture
def engine(tmp_path: Path) -> AlertEngine:
    store = SqliteStore(tmp_path / "a.db")
    return AlertEngine(config(tmp_path), store, roads())


def write(engine: AlertEngine, *ads: dict[str, Any]) -> list[dict[str, Any]]:
    outcome = engine.store.write_ads(list(ads))
    return engine.on_written(list(ads), outcome.first_sightings)


def by_rule(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        out.setdefault(alert["rule"], []).append(alert)
    return out


# --- new numbers near highways ---------------------------------------------------------

def test_a_new_number_near_the_e4_raises_one_alert_and_never_again(engine: AlertEngine) -> None:
    raised = by_rule(write(engine, ad("Tierp", "+46701740601")))
    (alert,) = raised["near-e4"]
    assert (alert["phone"], alert["town"], alert["road"], alert["km"]) == ("+46701740601", "Tierp", "E4", 0.0)
    assert alert["ad"].startswith("s:") and alert["details"]["first_seen"] == "2026-11-20T12:00:00Z"
    assert "near-any" not in raised  # its min_score (1.0) is above the ad's
    # The same number again, in another ad, a day later: known now, so no alert.
    assert write(engine, ad("Tierp", "+46701740601", day="2026-11-21")) == []
    assert len(engine.store.alerts()) == 1


def test_far_from_the_road_or_without_a_place_stays_quiet(engine: AlertEngine) -> None:
    assert roads()["E4"] and gazetteer(ADWATCH_DEFAULT_REGION).resolve("Arjeplog")
    raised = by_rule(write(engine, ad("Arjeplog", "+46701740602", score=2.0), ad(None, "+46701740603", score=2.0)))
    assert "near-e4" not in raised and "near-any" not in raised  # Arjeplog: 56 km from the E45
    # Malmö is on the E6/E20, not the E4: only the rule for any road fires.
    raised = by_rule(write(engine, ad("Malmö", "+46701740604", score=2.0)))
    assert "near-e4" not in raised and raised["near-any"][0]["road"] in {"E6", "E20", "E22", "E65"}


def test_towns_counties_and_score_narrow_the_rule(tmp_path: Path) -> None:
    text = """
rules:
  gavleborg:
    type: new_number_near_highway
    max_km: 5
    counties: [Gävleborgs län]
    min_score: 0.5
"""
    store = SqliteStore(tmp_path / "b.db")
    eng = AlertEngine(config(tmp_path, text.replace("rules:", "new_numbers: {baseline_first_crawl: false}\nrules:")),
                      store, roads())
    assert write(eng, ad("Uppsala", "+46701740605", score=1.0)) == []  # another county
    assert write(eng, ad("Söderhamn", "+46701740606", score=0.2)) == []  # too low a score
    assert [a["town"] for a in write(eng, ad("Söderhamn", "+46701740607", score=0.9))] == ["Söderhamn"]


# --- new numbers in watched towns ------------------------------------------------------

def test_watch_list_towns_any_spelling(engine: AlertEngine) -> None:
    raised = by_rule(write(engine, ad("Jönköping", "+46701740608"), ad("Gävle", "+46701740609"),
                           ad("Luleå", "+46701740610")))
    assert sorted(a["town"] for a in raised["watched"]) == ["Gävle", "Jönköping"]


# --- numbers moving along a highway ----------------------------------------------------

def test_a_number_moving_up_the_e4_is_reported_with_towns_in_order_and_direction(engine: AlertEngine) -> None:
    phone = "+46701740611"
    assert "travelling" not in by_rule(write(engine, ad("Uppsala", phone, day="2026-11-01")))
    assert "travelling" not in by_rule(write(engine, ad("Gävle", phone, day="2026-11-04")))  # two towns: not yet
    raised = by_rule(write(engine, ad("Hudiksvall", phone, day="2026-11-09")))
    (alert,) = raised["travelling"]
    assert alert["road"] == "E4" and alert["town"] == "Hudiksvall"
    assert [t["town"] for t in alert["details"]["towns"]] == ["Uppsala", "Gävle", "Hudiksvall"]
    assert alert["details"]["direction"] == "north" and alert["details"]["steady"] is True
    # A fourth town on the same road: still one alert for this number and road.
    assert "travelling" not in by_rule(write(engine, ad("Sundsvall", phone, day="2026-11-12")))
    assert len(engine.store.alerts(rule="travelling")) == 1


def test_too_few_towns_too_slow_or_off_the_road_stays_quiet(engine: AlertEngine) -> None:
    slow, off, same = "+46701740612", "+46701740613", "+46701740614"
    write(engine, ad("Uppsala", slow, day="2026-10-01"), ad("Gävle", slow, day="2026-10-10"),
          ad("Hudiksvall", slow, day="2026-10-20"))  # 19 days: more than 14
    write(engine, ad("Malmö", off, day="2026-11-01"), ad("Lund", off, day="2026-11-02"),
          ad("Jokkmokk", off, day="2026-11-03"))  # three towns, none of them on the E4
    write(engine, *(ad("Gävle", same, day=f"2026-11-0{d}") for d in range(1, 6)))  # many ads, one town
    assert engine.store.alerts(rule="travelling") == []


# --- atomic "new" and replay -------------------------------------------------------------

def test_two_concurrent_crawls_call_a_number_new_once(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    SqliteStore(tmp_path / "c.db").close()
    barrier = threading.Barrier(2)
    raised: list[dict[str, Any]] = []
    called_new: list[str] = []
    errors: list[BaseException] = []

    def crawl(source: str) -> None:
        eng = AlertEngine(cfg, SqliteStore(tmp_path / "c.db"), roads())
        barrier.wait()
        try:
            for k in range(20):
                batch = [ad("Tierp", f"+467017406{20 + k}", source=source)]
                outcome = eng.store.write_ads(batch)
                called_new.extend(outcome.new_phones)
                raised.extend(eng.on_written(batch, outcome.first_sightings))
        except BaseException as exc:  # noqa: BLE001  (reported in the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=crawl, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Each number was new to exactly one of the two writers, and raised its alert once.
    assert sorted(called_new) == [f"+467017406{20 + k}" for k in range(20)]
    near = [a for a in raised if a["rule"] == "near-e4"]
    assert sorted(a["phone"] for a in near) == [f"+467017406{20 + k}" for k in range(20)]


def test_replay_raises_what_real_time_missed_and_never_twice(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "d.db")
    eng = AlertEngine(config(tmp_path), store, roads())
    ads = [ad("Uppsala", "+46701740640", day="2026-11-01"), ad("Gävle", "+46701740640", day="2026-11-03"),
           ad("Hudiksvall", "+46701740640", day="2026-11-05"), ad("Jönköping", "+46701740641", day="2026-11-06")]
    store.write_ads(ads)  # written without the rules (alerts were off, or the check was lost)
    found = eng.evaluate_since("2026-10-01T00:00:00Z")
    created = eng.store_alerts(found)
    assert sorted(a["rule"] for a in created) == ["near-e4", "near-e4", "travelling", "watched"]
    assert eng.store_alerts(eng.evaluate_since("2026-10-01T00:00:00Z")) == []  # idempotent
    assert eng.store_alerts(eng.evaluate_since("2026-11-10T00:00:00Z")) == []
    # Real time on top of the replay: the next sighting adds nothing either.
    assert write(eng, ad("Sundsvall", "+46701740640", day="2026-11-07")) == []


# --- baseline and look-back ------------------------------------------------------------

def test_a_sources_first_crawl_is_its_baseline(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "e.db")
    cfg = config(tmp_path, RULES.replace("baseline_first_crawl: false", "baseline_first_crawl: true"))
    first = AlertEngine(cfg, store, roads())
    store.start_run("s", "2026-11-20T00:00:00Z")  # the crawl running now
    assert [a for a in write(first, ad("Tierp", "+46701740650")) if a["rule"] != "travelling"] == []
    run = store.start_run("s", "2026-11-20T00:00:00Z")
    store.finish_run(run, status="ok", finished_at="2026-11-20T14:00:00Z")
    second = AlertEngine(cfg, store, roads())  # the next crawl
    assert [a["rule"] for a in write(second, ad("Tierp", "+46701740651", day="2026-11-21"))] == ["near-e4"]
    # Replay agrees: the first number came in the baseline, the second after it.
    assert [a["phone"] for a in second.evaluate_since("2026-11-01T00:00:00Z")] == ["+46701740651"]


def test_a_number_back_after_the_look_back_is_new_again_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "f.db")
    eng = AlertEngine(config(tmp_path, RULES.replace("lookback_days: null", "lookback_days: 180")), store, roads())
    phone = "+46701740660"
    assert [a["rule"] for a in write(eng, ad("Tierp", phone, day="2025-01-10"))] == ["near-e4"]
    assert write(eng, ad("Tierp", phone, day="2025-03-01")) == []  # within the look-back
    back = write(eng, ad("Tierp", phone, day="2026-11-20"))  # 20 months unseen
    assert [(a["rule"], a["details"]["episode"]) for a in back] == [("near-e4", "2026-11-20")]
    assert write(eng, ad("Tierp", phone, day="2026-11-21")) == []
    assert eng.store_alerts(eng.evaluate_since("2025-01-01T00:00:00Z")) == []  # replay finds both, adds none


# --- the config file ---------------------------------------------------------------------

def test_bad_rules_and_channels_are_reported_and_left_out(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("""
new_numbers: {lookback_days: -3}
rules:
  good: {type: new_number_in_town, towns: [Gävle]}
  typo-town: {type: new_number_in_town, towns: [Gälve]}
  no-road: {type: new_number_near_highway, roads: [E99]}
  what: {type: new_number_somewhere}
  bad-km: {type: number_moves_along_highway, max_km: -1, extra: 1}
  bad-channel: {type: new_number_in_town, towns: [Gävle], channels: [pager]}
channels:
  hook: {type: webhook, url: "ftp://x"}
  mail: {type: email, host: h, sender: a@b, to: [nobody]}
  log: {type: log}
surprise: 1
""", encoding="utf-8")
    found, problems = load_config(path, ADWATCH_DEFAULT_REGION)
    assert list(found.rules) == ["good"] and list(found.channels) == ["log"]
    lines = {(p.field, p.reason.split(":")[0].split(",")[0]) for p in problems}
    assert all(p.file == str(path) for p in problems)
    fields = {field for field, _ in lines}
    assert {"new_numbers.lookback_days", "rules.typo-town.towns", "rules.no-road.roads", "rules.what.type",
            "rules.bad-km.max_km", "rules.bad-km.extra", "rules.bad-channel.channels", "channels.hook.url",
            "channels.mail.to", "surprise"} <= fields
    assert any("Gälve" in p.reason for p in problems) and any("E99" in p.reason for p in problems)


@pytest.mark.parametrize("text, where", [("rules: [1, 2", "line"), ("- a list", "(file)"), ("rules: 3", "rules")])
def test_a_broken_file_is_one_line_not_a_crash(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text, encoding="utf-8")
    found, problems = load_config(path, ADWATCH_DEFAULT_REGION)
    assert found.rules == {} and len(problems) == 1 and problems[0].field.startswith(where)
    assert load_config(tmp_path / "missing.yaml", ADWATCH_DEFAULT_REGION)[1][0].reason == "no such file"


def test_the_shipped_config_is_valid() -> None:
    from config.settings import ADWATCH_ALERTS

    found, problems = load_config(ADWATCH_ALERTS, ADWATCH_DEFAULT_REGION)
    assert problems == [] and {r.type for r in found.rules.values()} == {
        "new_number_near_highway", "number_moves_along_highway", "new_number_in_town", "saved_search"}


# --- in the store stage --------------------------------------------------------------------

class _AlertsDownOnce(SqliteStore):
    """The store goes away between writing a batch and storing its alerts: the one moment an
    outage cannot be arranged from outside, so it is injected here."""

    failures = 1

    def add_alerts(self, alerts: Any) -> list[dict[str, Any]]:
        if self.failures:
            self.failures -= 1
            from index.store import StoreUnavailable

            raise StoreUnavailable("locked")
        return super().add_alerts(alerts)


def test_an_outage_after_the_write_spools_the_check_and_loses_no_alert(tmp_path: Path) -> None:
    from scrapy.utils.test import get_crawler

    from alerts.extension import AlertsExtension
    from index.spool import Spool
    from index.writer import StoreWriter
    from pipelines.store import StorePipeline

    store = _AlertsDownOnce(tmp_path / "g.db")
    crawler = get_crawler()
    assert crawler.stats is not None
    stats = crawler.stats
    spool = Spool(tmp_path / "spool")
    writer = StoreWriter(store, spool)
    # As in a crawl: the pipeline writes and signals, the extension runs the rules.
    AlertsExtension(AlertEngine(config(tmp_path), store, roads()), writer, stats).connect(crawler.signals)
    pipe = StorePipeline(writer, stats, batch_size=1, signals=crawler.signals)
    pipe.process_item(ad("Tierp", "+46701740670"))
    assert store.alerts() == [] and [p.name.split(".")[-2] for p in spool.pending()] == ["alertcheck"]
    assert store.phone_record("+46701740670") is not None  # the ad itself is stored
    pipe.process_item(ad("Arjeplog", "+46701740671"))  # the next batch (no alert of its own) replays it first
    assert spool.pending() == []
    assert sorted(a["phone"] for a in store.alerts()) == ["+46701740670"]
    assert stats.get_value("adwatch/alerts/spooled") == 1


def test_a_malformed_date_skips_that_sighting_not_the_batch(engine: AlertEngine) -> None:
    phone = "+46701740672"
    raised = write(engine, ad("Uppsala", phone, day="2026-11-01"), ad("Gävle", phone, posted_at="not a date",
                                                                      first_seen_at="garbage"),
                   ad("Tierp", "+46701740673"), ad("Hudiksvall", phone, day="2026-11-05"))
    assert sorted(a["phone"] for a in by_rule(raised)["near-e4"]) == [phone, "+46701740673"]
    assert "travelling" not in by_rule(raised)  # two readable towns only
