"""The alert rules as a Scrapy extension on the store pipeline's ``ads_written`` signal: off when
alerts are off, on in a real crawl of the demo site, and on spooled checks that
``adwatch index flush`` replays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from adwatch.demo import DemoSite
from adwatch.settings import load_settings
from alerts.extension import AlertsExtension
from alerts.model import alert
from index.spool import Spool
from index.sqlite import SqliteStore
from index.writer import ALERTS_OFF, StoreWriter, writer_for_crawler
from pipelines.signals import ads_written
from pipelines.store import StorePipeline
from tests.conftest import run_adwatch, run_json

# Every new number in any town near any road (within 500 km: all of Sweden), to a file.
EVERYWHERE = """
new_numbers: {baseline_first_crawl: false, lookback_days: null}
rules:
  anywhere: {type: new_number_near_highway, max_km: 500}
channels:
  file: {type: file, path: alerts.jsonl}
"""


def alerts_file(tmp_path: Path, text: str = EVERYWHERE) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def crawler_for(home: Path, alerts: str) -> Crawler:
    """A crawler with the project's adwatch settings and no extensions of its own yet."""
    settings = load_settings({"ADWATCH_HOME": str(home), "ADWATCH_ALERTS": alerts})
    return get_crawler(settings_dict={name: settings[name] for name in settings if name.startswith("ADWATCH_")})


def ad(n: int, town: str = "Tierp", lat: float = 60.345, lon: float = 17.515) -> dict[str, Any]:
    return {"id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "title": "t", "text": "x",
            "posted_at": "2026-11-20T12:00:00Z", "first_seen_at": "2026-11-20T13:00:00Z",
            "last_seen_at": "2026-11-20T13:00:00Z", "content_hash": f"h{n}", "version": 1,
            "phones": [f"+4670174068{n}"], "town": town, "county": "Uppsala län", "lat": lat, "lon": lon,
            "towns": [{"name": town, "county": "Uppsala län", "lat": lat, "lon": lon}]}


def test_the_extension_is_off_when_alerts_are_off_and_opens_no_store(home: Path) -> None:
    with pytest.raises(NotConfigured, match="ADWATCH_ALERTS is empty"):
        AlertsExtension.from_crawler(crawler_for(home, ""))
    assert list(home.iterdir()) == []


def test_the_extension_is_off_when_no_rule_is_enabled(home: Path, tmp_path: Path) -> None:
    path = alerts_file(tmp_path, "rules:\n  off: {type: new_number_in_town, towns: [Gävle], enabled: false}\n")
    with pytest.raises(NotConfigured, match="no enabled rule"):
        AlertsExtension.from_crawler(crawler_for(home, str(path)))


def test_the_extension_is_declared_in_the_project_settings() -> None:
    assert "alerts.extension.AlertsExtension" in load_settings().getdict("EXTENSIONS")


def test_a_batch_announced_on_the_signal_raises_its_alerts_and_counts_them(home: Path, tmp_path: Path) -> None:
    crawler = crawler_for(home, str(alerts_file(tmp_path)))
    AlertsExtension.from_crawler(crawler)
    writer = writer_for_crawler(crawler)  # the same writer the store pipeline writes through
    assert writer.check_alerts is not None  # spooled checks reach the rules on replay
    batch = [ad(1)]
    outcome = writer.store.write_ads(batch)
    crawler.signals.send_catch_log(ads_written, ads=batch, new_phones=outcome.first_sightings)
    (alert,) = writer.store.alerts()
    assert (alert["phone"], alert["town"]) == ("+46701740681", "Tierp")
    assert crawler.stats is not None and crawler.stats.get_value("adwatch/alerts/raised") == 1
    delivered = (home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in delivered] == [alert["id"]]
    writer.store.close()


def test_a_crawl_of_the_demo_site_raises_alerts_through_the_extension(demo_site: DemoSite, home: Path,
                                                                     tmp_path: Path) -> None:
    env = {"ADWATCH_ALERTS": str(alerts_file(tmp_path))}
    (run,) = run_json("crawl", "nightlist", "--base-url", demo_site.base_url, home=home, env=env, timeout=300)
    assert run["status"] == "ok"
    store = SqliteStore(home / "adwatch.db")
    alerts = store.alerts(limit=10_000)
    phones = {row[0] for row in store.db.execute("SELECT e164 FROM phones")}
    store.close()
    assert alerts and {a["phone"] for a in alerts} <= phones
    assert run["stats"]["adwatch/alerts/raised"] == len(alerts)  # counted before the run was recorded
    delivered = (home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["id"] for line in delivered) == sorted(a["id"] for a in alerts)


def test_index_flush_runs_the_rules_on_spooled_checks_or_keeps_them_aside(home: Path, tmp_path: Path) -> None:
    store = SqliteStore(home / "adwatch.db")
    outcome = store.write_ads([ad(2)])
    store.close()
    spool = Spool(home / "adwatch.spool")
    StoreWriter(store, spool).spool_alertcheck([ad(2)], outcome.first_sightings)
    off = run_adwatch("index", "flush", home=home, env={"ADWATCH_ALERTS": ""}, check=True)
    assert "1 of 1 batches written" in off.stderr
    (kept,) = spool.rejected_folder.glob("*.alertcheck.json")
    assert json.loads(kept.read_text(encoding="utf-8"))["reason"] == ALERTS_OFF

    StoreWriter(store, spool).spool_alertcheck([ad(2)], outcome.first_sightings)
    run_adwatch("index", "flush", home=home, env={"ADWATCH_ALERTS": str(alerts_file(tmp_path))}, check=True)
    assert spool.pending() == []
    store = SqliteStore(home / "adwatch.db")
    assert [a["phone"] for a in store.alerts()] == ["+46701740682"]
    store.close()


def test_a_failing_rule_is_counted_and_logged_and_never_fails_the_write(home: Path, tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    crawler = crawler_for(home, str(alerts_file(tmp_path)))
    AlertsExtension.from_crawler(crawler)
    writer = writer_for_crawler(crawler)

    def broken(*args: Any) -> None:
        raise ValueError("a rule met a value it cannot read")

    monkeypatch.setattr(writer.store, "add_alerts", broken)
    assert crawler.stats is not None
    StorePipeline(writer, crawler.stats, batch_size=1, signals=crawler.signals).process_item(ad(3))
    assert writer.store.get_ad("s:3") is not None and crawler.stats.get_value("adwatch/store/new") == 1
    assert writer.spool.pending() == []  # not the store's fault: nothing to replay, 'alerts evaluate' catches up
    assert crawler.stats.get_value("adwatch/alerts/error") == 1
    assert crawler.stats.get_value("adwatch/store/rejected") is None
    assert "run 'adwatch alerts evaluate' to catch up" in caplog.text
    writer.store.close()


def test_deliveries_still_waiting_are_retried_when_the_spider_closes(home: Path, tmp_path: Path) -> None:
    crawler = crawler_for(home, str(alerts_file(tmp_path)))
    extension = AlertsExtension.from_crawler(crawler)
    engine = extension.alerts.engine
    (waiting,) = engine.store_alerts([alert("anywhere", "new_number_near_highway", "+46701740684", ad(4),
                                            town="Tierp", road="E4", km=0.0, details={})])  # stored, not sent
    assert not (home / "alerts.jsonl").exists()
    crawler.signals.send_catch_log(signals.spider_closed, spider=None, reason="finished")
    delivered = (home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in delivered] == [waiting["id"]]
    assert crawler.stats is not None and crawler.stats.get_value("adwatch/alerts/retried_sent") == 1
    engine.store.close()
