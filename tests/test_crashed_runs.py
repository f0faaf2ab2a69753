"""A crawl killed with SIGKILL never finishes its run: the next look (``adwatch runs``, the next
crawl of the source) marks it ``crashed``, and the health line calls the source unhealthy
(issue 12, item 14). The rule itself is tested on both stores in test_store_conformance.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from adwatch.demo.server import DemoSite
from index.sqlite import SqliteStore
from tests.conftest import ADWATCH, ROOT, run_adwatch
from tests.test_crawl import _wait_for_details


def _start_crawl(site: DemoSite, home: Path) -> subprocess.Popen[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_")}
    env = {**inherited, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"}
    return subprocess.Popen([*ADWATCH, "crawl", "annonsguiden", "--base-url", site.base_url], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _statuses(home: Path) -> list[str]:
    store = SqliteStore(home / "adwatch.db")
    try:  # read straight from the table: what is written, not what a look would show
        return [row[0] for row in store.db.execute("SELECT status FROM crawl_runs ORDER BY id DESC")]
    finally:
        store.close()


def test_a_killed_crawl_is_crashed_unhealthy_and_the_next_crawl_completes(demo_site: DemoSite, home: Path) -> None:
    proc = _start_crawl(demo_site, home)
    _wait_for_details(demo_site, 30, proc)
    # While the crawl lives (it holds its source lock), a look never calls it crashed.
    (live,) = json.loads(run_adwatch("runs", "--json", home=home, check=True).stdout)
    assert proc.poll() is None and live["status"] == "running"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert _statuses(home) == ["running"]  # nothing could write its end

    (row,) = json.loads(run_adwatch("runs", "--json", home=home, check=True).stdout)
    assert row["id"] == live["id"] and row["status"] == "crashed"
    assert "without finishing" in row["reason"]
    text = " ".join(run_adwatch("runs", home=home, check=True).stdout.split())
    assert "annonsguiden: ATTENTION" in text and "latest crashed" in text
    assert "healthy" not in text.replace("unhealthy", "")

    again = run_adwatch("crawl", "annonsguiden", "--base-url", demo_site.base_url, "--json", home=home, check=True)
    (done,) = json.loads(again.stdout)
    assert done["status"] == "ok"
    assert _statuses(home) == ["ok", "crashed"]  # written by now, not only shown
    text = " ".join(run_adwatch("runs", home=home, check=True).stdout.split())
    assert "annonsguiden: healthy" in text
