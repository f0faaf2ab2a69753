"""The CLI through its entry point, over a real SQLite index in a temp ADWATCH_HOME."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from adwatch.demo_run import BASELINE_DAYS_AGO
from index.sqlite import SqliteStore
from tests.conftest import ADWATCH, BROWSER_ENV, ROOT, html_schedule, html_sources_dir, run_adwatch, run_json
from tests.web_env import free_port


def town(name: str) -> dict[str, object]:
    return {"name": name, "county": "Gävleborgs län", "lat": 60.6, "lon": 17.1, "found_in": "location_field"}


@pytest.fixture
def indexed(home: Path) -> Path:
    store = SqliteStore(home / "adwatch.db")
    common = {"source": "demo", "first_seen_at": "2026-11-01T00:00:00Z", "last_seen_at": "2026-11-02T00:00:00Z"}
    store.write_ads([
        {**common, "id": "demo:1", "url": "http://x/1", "title": "Ny i stan", "text": "Söt tjej, ring 070-174 06 05",
         "posted_at": "2026-11-01T10:00:00Z", "phones": ["+46701740605"], "towns": [town("Gävle")], "town": "Gävle",
         "phone_details": [{"e164": "+46701740605", "raw": "070-174 06 05", "line_type": "mobile"}]},
        {**common, "id": "demo:2", "url": "http://x/2", "title": "Massage", "text": "Avslappning i Sandviken",
         "posted_at": "2026-11-03T10:00:00Z", "phones": ["+46701740605"], "towns": [town("Sandviken")],
         "town": "Sandviken"},
    ])
    store.close()
    return home


def test_search_json_is_only_json(indexed: Path) -> None:
    result = run_adwatch("search", '"ny i stan"', "--json", home=indexed, check=True)
    data = json.loads(result.stdout)  # fails if anything else is on stdout
    assert data["total"] == 1 and data["hits"][0]["id"] == "demo:1"
    assert data["facets"]["town"] == {"Gävle": 1}


def test_search_filters_normalize_what_the_analyst_types(indexed: Path) -> None:
    assert run_json("search", "--phone", "070 174 06 05", home=indexed)["total"] == 2
    assert run_json("search", "--phone", "+46 (0)70-1740605", home=indexed)["total"] == 2
    assert [h["id"] for h in run_json("search", "--town", "gavle", home=indexed)["hits"]] == ["demo:1"]
    assert run_json("search", "--since", "2026-11-02", home=indexed)["total"] == 1
    assert run_json("search", "--source", "other", home=indexed)["total"] == 0


def test_search_table_for_humans(indexed: Path) -> None:
    result = run_adwatch("search", "massage", home=indexed, check=True)
    assert "demo:2" in result.stdout and "1 ads" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("search", "x", "--phone", "12"), "not a valid phone number"),
        (("search", "x", "--since", "last week"), "time span"),
        (("search", "x", "--sort", "random"), "--sort"),
        (("phones", "hello"), "not a valid phone number"),
        (("show", "demo:404"), "no ad"),
    ],
)
def test_bad_arguments_give_one_clear_line(indexed: Path, args: tuple[str, ...], message: str) -> None:
    result = run_adwatch(*args, home=indexed)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_index_yet(home: Path) -> None:
    result = run_adwatch("search", "x", home=home / "nothing")
    assert result.returncode == 2 and "no index yet" in result.stderr


def test_phones_pivot(indexed: Path) -> None:
    data = run_json("phones", "0701740605", home=indexed)
    assert data["phone"] == "+46701740605"
    assert data["registry"]["towns"] == ["Gävle", "Sandviken"] and data["registry"]["first_town"] == "Gävle"
    assert [a["id"] for a in data["ads"]] == ["demo:1", "demo:2"]
    human = run_adwatch("phones", "070-174 06 05", home=indexed, check=True).stdout
    assert "2 ads" in human and "Sandviken" in human
    assert run_adwatch("phones", "070-174 06 99", home=indexed).returncode == 1


def test_show_and_stats_and_runs(indexed: Path) -> None:
    shown = run_json("show", "demo:1", home=indexed)
    assert shown["title"] == "Ny i stan" and shown["versions"] == []
    assert "070-174 06 05" in run_adwatch("show", "demo:1", home=indexed, check=True).stdout
    stats = run_json("stats", home=indexed)
    assert (stats["ads"], stats["phones"], stats["multi_town_phones"]) == (2, 1, 1)
    assert run_json("runs", home=indexed) == []


def test_crawl_rejects_unknown_sources(home: Path) -> None:
    result = run_adwatch("crawl", "nosuchsite", home=home)
    assert result.returncode == 2 and "unknown source(s): nosuchsite" in result.stderr


def test_demo_runs_the_whole_pipeline_and_serves_the_ui(home: Path) -> None:
    """`make demo`: the crawls, then the web UI on the demo data with a login that works;
    Ctrl-C ends it cleanly. (`--no-serve`, which exits when done: test_elasticsearch.py.)"""
    result = _demo_serving(home)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for expected in ("annonsguiden", "nightlist", "top towns", '"ny i stan"', "adwatch phones +46"):
        assert expected in result.stdout
    stats = run_json("stats", home=home)
    assert stats["ads"] >= 300 and stats["towns"] >= 25 and stats["multi_town_phones"] >= 10
    # Alerts: every rule raised at least one, and the file channel got each alert once.
    alerts = [json.loads(line) for line in run_adwatch("alerts", "list", "--limit", "1000", "--json", home=home,
                                                        check=True).stdout.splitlines()]
    rules = {a["rule"] for a in alerts}
    assert rules == {"new-near-highway", "travelling-number", "watched-towns"}
    assert f"Alerts raised: {len(alerts)}" in result.stdout
    delivered = [json.loads(line) for line in (home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(a["id"] for a in delivered) == sorted(a["id"] for a in alerts)
    # The baseline crawl (the site as it was days ago) alerted on no new number: every new
    # number comes from an ad posted after it.
    cutoff = (datetime.now(UTC).date() - timedelta(days=BASELINE_DAYS_AGO)).isoformat()
    firsts = [a["details"]["first_seen"][:10] for a in alerts if a["kind"] != "number_moves_along_highway"]
    assert firsts and min(firsts) > cutoff
    moving = [a for a in alerts if a["kind"] == "number_moves_along_highway"]
    assert all(len(a["details"]["towns"]) >= 3 and a["details"]["direction"] for a in moving)
    # Replay over the same index finds exactly what real time raised: nothing new.
    replay = run_json("alerts", "evaluate", "--since", "90d", home=home)
    assert replay["new"] == 0 and replay["raised"] >= len(alerts)


def _demo_serving(home: Path, deadline_s: float = 600) -> subprocess.CompletedProcess[str]:
    """`adwatch demo` until its UI is up; log in as the printed demo analyst and search; Ctrl-C.
    Output is read by a thread with a deadline: a demo that never gets there fails, never hangs."""
    import queue
    import tempfile
    import threading

    env = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_") or k.startswith("ADWATCH_TEST")}
    env |= {"ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error", "PYTHONUNBUFFERED": "1",
            "ADWATCH_SOURCES_DIR": html_sources_dir(), "ADWATCH_SCHEDULE": html_schedule(),
            "ADWATCH_WEB_PORT": str(free_port()), **BROWSER_ENV}
    with tempfile.TemporaryFile("w+") as errors:
        demo = subprocess.Popen([*ADWATCH, "demo", "--port", "0"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=errors, text=True)
        lines: queue.Queue[str | None] = queue.Queue()
        output = demo.stdout
        assert output is not None

        def read() -> None:
            for line in output:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        seen: list[str] = []
        try:
            until = time.monotonic() + deadline_s
            while not any("log in as demo-admin" in line for line in seen):
                line = lines.get(timeout=max(0.1, until - time.monotonic()))
                assert line is not None, "".join(seen)[-3000:]
                seen.append(line)
            stdout = "".join(seen)
            found = re.search(r"log in as demo / (\S+)", stdout)
            url = re.search(r"The web UI: (http://\S+)", stdout)  # the port it really took
            assert found and url, stdout[-3000:]
            with httpx.Client(base_url=url.group(1), timeout=30) as client:
                page = client.get("/login")
                token = re.search(r'name="csrf" value="([^"]*)"', page.text)
                assert token, page.text[:500]
                answer = client.post("/login", data={"name": "demo", "password": found.group(1),
                                                     "csrf": token.group(1)})
                assert answer.status_code == 303
                assert client.get("/api/v1/search", params={"q": "ny i stan"}).json()["total"] > 0
            demo.send_signal(signal.SIGINT)  # Ctrl-C
            demo.wait(timeout=60)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
            reader.join(timeout=10)
            output.close()
        while (line := lines.get_nowait() if not lines.empty() else None) is not None:
            seen.append(line)
        errors.seek(0)
        return subprocess.CompletedProcess(demo.args, demo.returncode, "".join(seen), errors.read())
