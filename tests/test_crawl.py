"""End to end: `adwatch crawl` (the real entry point) against the demo site on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from adwatch.demo import DemoAd, DemoSite
from index.sqlite import SqliteStore
from nlp.phones import normalize_phone
from tests.conftest import ADWATCH, ROOT, run_adwatch, run_json

SOURCE_OF = {"annons": "annonsguiden", "nl": "nightlist"}


def expected_ids(site: DemoSite) -> set[str]:
    return {f"{SOURCE_OF[ad.site]}:{ad.site_id}" for ad in site.ads if ad.status != "gone"}


def detail_hits(site: DemoSite) -> dict[str, int]:
    return {ad.path: site.hits[ad.path] for ad in site.ads}


def open_index(home: Path) -> SqliteStore:
    return SqliteStore(home / "adwatch.db")


def crawl(site: DemoSite, home: Path, *extra: str) -> list[dict[str, object]]:
    runs: list[dict[str, object]] = run_json("crawl", "--all", "--base-url", site.base_url, *extra, home=home)
    return runs


def test_crawl_indexes_every_live_ad(demo_site: DemoSite, home: Path) -> None:
    runs = crawl(demo_site, home)
    assert [r["status"] for r in runs] == ["ok", "ok"]
    store = open_index(home)
    ids = {row[0] for row in store.db.execute("SELECT id FROM ads")}
    assert ids == expected_ids(demo_site)
    by_id: dict[str, DemoAd] = {f"{SOURCE_OF[a.site]}:{a.site_id}": a for a in demo_site.ads}
    for ad_id in ids:
        truth, got = by_id[ad_id], store.get_ad(ad_id)
        assert got is not None
        assert got["title"] == " ".join(truth.title.split()), ad_id
        assert got["town"] == truth.town, ad_id
        assert got["posted_at"] and got["posted_at"].endswith("Z")
        if truth.phone_field:  # what the page's phone field shows is always found
            assert normalize_phone(truth.phone_field, "SE") in got["phones"], ad_id
        assert set(got["phones"]) == set(truth.phones), ad_id  # obfuscated ones too, and nothing else
    # Flaky pages were retried; robots.txt kept the crawler out of /admin/ and the search page.
    assert all(f"{SOURCE_OF[a.site]}:{a.site_id}" in ids for a in demo_site.ads if a.status == "flaky")
    assert not any(path.startswith(("/admin", "/annons/sok")) for path in demo_site.hits)
    # Site B is windows-1252: Swedish letters survive.
    assert store.db.execute("SELECT count(*) FROM ads WHERE source='nightlist' AND text LIKE '%ä%'").fetchone()[0]
    stats = runs[0]["stats"]
    assert isinstance(stats, dict) and stats["adwatch/spider/http_404"] >= 1
    store.close()


def test_second_crawl_fetches_nothing_twice_and_moves_last_seen(demo_site: DemoSite, home: Path) -> None:
    crawl(demo_site, home)
    before = detail_hits(demo_site)
    store = open_index(home)
    first_seen = dict(store.db.execute("SELECT id, last_seen_at FROM ads").fetchall())
    store.close()
    time.sleep(1.1)  # timestamps have one-second resolution
    runs = crawl(demo_site, home)
    assert [(r["status"], r["new_ads"], r["updated_ads"]) for r in runs] == [("ok", 0, 0), ("ok", 0, 0)]
    after = detail_hits(demo_site)
    refetched = [p for p in after if after[p] != before[p]
                 and next(a for a in demo_site.ads if a.path == p).status != "gone"]
    assert refetched == []
    assert any(r["stats"]["adwatch/spider/stopped_paging"] for r in runs)  # type: ignore[index]
    store = open_index(home)
    moved = [i for i, seen in store.db.execute("SELECT id, last_seen_at FROM ads") if seen > first_seen[i]]
    assert len(moved) >= len(first_seen) // 10  # at least the ads on the pages it still read
    store.close()


def test_refresh_fetches_again_without_new_versions(demo_site: DemoSite, home: Path) -> None:
    crawl(demo_site, home)
    before = sum(detail_hits(demo_site).values())
    runs = crawl(demo_site, home, "--refresh")
    assert sum(detail_hits(demo_site).values()) >= before + len(expected_ids(demo_site))
    assert all(r["new_ads"] == 0 and r["updated_ads"] == 0 for r in runs)


def _wait_for_details(site: DemoSite, count: int, proc: subprocess.Popen[str], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while sum(1 for a in site.ads if site.hits[a.path]) < count:
        assert proc.poll() is None, "the crawl ended before it could be interrupted"
        assert time.monotonic() < deadline, "the crawl made no progress"
        time.sleep(0.02)


def _start_crawl(site: DemoSite, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"}
    return subprocess.Popen([*ADWATCH, "crawl", "annonsguiden", "--base-url", site.base_url], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_consistent(home: Path, site: DemoSite) -> None:
    store = open_index(home)
    ids = {row[0] for row in store.db.execute("SELECT id FROM ads")}
    assert ids == {i for i in expected_ids(site) if i.startswith("annonsguiden:")}
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # The phone registry agrees with the ads: no double counting from the interrupted run.
    for e164, count in store.db.execute("SELECT e164, ads_count FROM phones"):
        linked = store.db.execute("SELECT count(*) FROM ad_phones WHERE e164 = ?", (e164,)).fetchone()[0]
        assert count == linked
    store.close()


def test_killed_crawl_leaves_a_consistent_index_and_resumes(demo_site: DemoSite, home: Path) -> None:
    proc = _start_crawl(demo_site, home)
    _wait_for_details(demo_site, 30, proc)
    proc.kill()  # no chance to flush: as if the machine lost power
    proc.communicate(timeout=30)
    store = open_index(home)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    partial = store.db.execute("SELECT count(*) FROM ads").fetchone()[0]
    assert [r["status"] for r in store.runs("annonsguiden")] == ["crashed"]  # issue 12: its crawl is gone
    store.close()
    result = run_adwatch("crawl", "annonsguiden", "--base-url", demo_site.base_url, home=home, check=True)
    assert "ok" in result.stdout
    _check_consistent(home, demo_site)
    assert partial < len([i for i in expected_ids(demo_site) if i.startswith("annonsguiden:")])


def test_ctrl_c_records_an_interrupted_run_and_the_next_crawl_completes(demo_site: DemoSite, home: Path) -> None:
    proc = _start_crawl(demo_site, home)
    _wait_for_details(demo_site, 30, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr
    store = open_index(home)
    (run,) = store.runs("annonsguiden")
    assert run["status"] == "interrupted" and run["reason"] == "shutdown"
    store.close()
    run_adwatch("crawl", "annonsguiden", "--base-url", demo_site.base_url, home=home, check=True)
    _check_consistent(home, demo_site)


def test_scrapy_crawl_works_as_well(demo_site: DemoSite, home: Path) -> None:
    env = {**os.environ, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error", "SCRAPY_SETTINGS_MODULE": ""}
    env.pop("SCRAPY_SETTINGS_MODULE")
    result = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "nightlist", "-a",
                             f"base_url={demo_site.base_url}", "-L", "WARNING"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    store = open_index(home)
    count = store.db.execute("SELECT count(*) FROM ads WHERE source = 'nightlist'").fetchone()[0]
    assert count == len([i for i in expected_ids(demo_site) if i.startswith("nightlist:")])
    store.close()
