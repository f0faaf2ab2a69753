"""A week of simulated days: the demo site's clock moves a day, `adwatch schedule once` runs,
and the runs, the removed ads and the trends must match what the site's clock did."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from adwatch.demo.server import DemoSite
from index.sqlite import SqliteStore
from tests.conftest import ROOT, run_adwatch
from tests.test_crawl import SOURCE_OF

DAYS = [date(2026, 11, 21) + timedelta(days=n) for n in range(7)]


@pytest.mark.slow
def test_a_week_of_scheduled_crawls(tmp_path: Path, home: Path) -> None:
    site = DemoSite(seed=9, count=160, flaky=False, anchor=DAYS[-1])
    site.start()
    sources = tmp_path / "sources"
    sources.mkdir()
    for path in (ROOT / "config" / "sources").glob("*.yaml"):
        text = path.read_text(encoding="utf-8").replace("http://127.0.0.1:8765", site.base_url)
        # Every listing page every day, so absences mean something on both sites.
        (sources / path.name).write_text(text.replace("stop_on_known_page: true", "stop_on_known_page: false"),
                                         encoding="utf-8")
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("sources:\n  annonsguiden:\n    every: 20h\n  nightlist:\n    every: 20h\n")
    env = {"ADWATCH_SOURCES_DIR": str(sources), "ADWATCH_SCHEDULE": str(schedule)}
    try:
        for day in DAYS:
            site.set_today(day)
            result = run_adwatch("schedule", "once", "--json", home=home,
                                 env=env | {"ADWATCH_NOW": f"{day.isoformat()}T08:00:00Z"})
            assert result.returncode == 0, result.stderr[-2000:]
            assert sorted(r["source"] for r in json.loads(result.stdout)) == ["annonsguiden", "nightlist"]
        # A crawl an hour later on the last day: nothing is due.
        late = run_adwatch("schedule", "once", "--json", home=home, env=env | {"ADWATCH_NOW": f"{DAYS[-1]}T09:00:00Z"})
        assert json.loads(late.stdout) == []
    finally:
        site.stop()

    def key(ad: object) -> str:
        return f"{SOURCE_OF[ad.site]}:{ad.site_id}"  # type: ignore[attr-defined]

    served = [ad for ad in site.ads if ad.status != "gone"]
    shown: dict[str, list[date]] = {}
    for day in DAYS:
        site.set_today(day)
        for ad in served:
            if site.visible(ad):
                shown.setdefault(key(ad), []).append(day)
    store = SqliteStore(home / "adwatch.db", readonly=True)
    try:
        runs = store.runs(limit=100)
        assert len(runs) == 14 and {r["status"] for r in runs} == {"ok"}
        indexed = {row[0]: row for row in store.db.execute("SELECT id, removed_at, town, first_seen_at FROM ads")}
        assert set(indexed) == set(shown)  # every ad the site showed that week, nothing else
        # Gone from the listings on the last two crawl days (or more): removed; else present.
        expected_removed = {k for k, days in shown.items() if days[-1] <= DAYS[-3]}
        assert expected_removed, "the week should see some ads expire"
        assert {k for k, row in indexed.items() if row[1]} == expected_removed
        assert sum(r["removed_ads"] for r in runs) == len(expected_removed)
        # Each ad is new on the first day the site showed it, in its town.
        by_ad = {key(ad): ad for ad in served}
        expected_new = Counter((shown[k][0].isoformat(), by_ad[k].town) for k in shown)
    finally:
        store.close()
    trend = json.loads(run_adwatch("trends", "--metric", "new_ads", "--interval", "day", "--since", "2026-11-21",
                                   "--until", "2026-11-28", "--top", "100", "--format", "json", home=home,
                                   check=True).stdout)
    got = Counter({(period, series["key"]): value for series in trend["series"]
                   for period, value in zip(trend["periods"], series["values"], strict=True) if value})
    assert got == expected_new
    assert len({period for period, _ in got}) >= 5  # news nearly every day, not only day one's backlog
