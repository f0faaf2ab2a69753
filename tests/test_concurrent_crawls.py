"""Fault injection: two crawls and a scheduler start at once on one data folder. Every ad is
stored, fetched and counted as new exactly once; whoever is refused says so in one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from adwatch.demo import DemoSite
from config.source_schema import load_sources
from index.sqlite import SqliteStore
from tests.conftest import ADWATCH, HTML_SOURCES, ROOT

SOURCES_DIR = ROOT / "config" / "sources"
SOURCE_OF = {"annons": "annonsguiden", "nl": "nightlist"}
BUSY = ("another crawl of this source is running", "a crawl is already running")  # crawl, scheduler


@pytest.mark.slow
def test_two_crawls_and_a_scheduler_at_once_store_each_ad_once(tmp_path: Path, home: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("sources:\n  annonsguiden:\n    every: 1h\n  nightlist:\n    every: 1h\n", encoding="utf-8")
    with DemoSite(seed=13, count=150, flaky=False) as site:
        for path in (SOURCES_DIR / f"{name}.yaml" for name in HTML_SOURCES):  # on this test's own demo site
            (sources / path.name).write_text(path.read_text(encoding="utf-8").replace(
                "http://127.0.0.1:8765", site.base_url), encoding="utf-8")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_")}, "ADWATCH_HOME": str(home),
               "ADWATCH_SOURCES_DIR": str(sources), "ADWATCH_SCHEDULE": str(schedule), "PYTHONWARNINGS": "error"}
        commands = [["crawl", "--all"], ["crawl", "annonsguiden"], ["schedule", "once"]]
        procs = [subprocess.Popen([*ADWATCH, *command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for command in commands]
        results = []
        for command, proc in zip(commands, procs, strict=True):
            stdout, stderr = proc.communicate(timeout=300)
            results.append((command, proc.returncode, stdout, stderr))
        hits = {ad.path: site.hits[ad.path] for ad in site.ads if ad.status != "gone"}
        live = {f"{SOURCE_OF[ad.site]}:{ad.site_id}" for ad in site.ads if ad.status != "gone"}
    for command, code, _, stderr in results:
        assert "Traceback" not in stderr, (command, stderr[-3000:])
        refusals = [line for line in stderr.splitlines() if any(words in line for words in BUSY)]
        # A crawl that was refused says so and exits 1; the scheduler skips a busy source and exits 0.
        assert code == 0 or (refusals and command[0] == "crawl"), (command, code, stderr[-3000:])
        assert all(len(line) < 300 for line in refusals)
    assert all(count == 1 for count in hits.values()), {p: c for p, c in hits.items() if c != 1}
    store = SqliteStore(home / "adwatch.db")
    try:
        assert {row[0] for row in store.db.execute("SELECT id FROM ads")} == live
        assert store.db.execute("SELECT count(*) FROM ad_versions").fetchone()[0] == 0  # nothing stored twice
        for name in load_sources(str(sources))[0]:
            runs = store.runs(name, limit=20)
            assert runs and all(r["status"] == "ok" for r in runs), [(r["id"], r["status"], r["reason"]) for r in runs]
            assert sum(r["new_ads"] for r in runs) == sum(1 for ad in live if ad.startswith(f"{name}:"))
    finally:
        store.close()
