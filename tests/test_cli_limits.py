"""Issue 12, items 13 and 15: huge values are one clear line and exit 2, never an overflow
traceback; ``schedule show`` exits non-zero when it reports a problem.

Every numeric or time option of every command is tried here with a value past what it (or
SQLite's signed 64-bit INTEGER, or datetime's years 1-9999) can hold, through the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.sqlite import SqliteStore
from tests.conftest import run_adwatch

HUGE = "99999999999999999999"  # > 2**63 - 1: SQLite's INTEGER overflowed on it


@pytest.fixture
def indexed(home: Path) -> Path:
    store = SqliteStore(home / "adwatch.db")
    seen = {"source": "demo", "first_seen_at": "2026-11-01T00:00:00Z", "last_seen_at": "2026-11-02T00:00:00Z"}
    store.write_ads([{**seen, "id": f"demo:{n}", "url": f"http://x/{n}", "title": "Ny i stan", "text": "ring mig",
                      "town": "Gävle"} for n in (1, 2)])
    run = store.start_run("nightlist", "2026-11-01T00:00:00Z")
    store.finish_run(run, status="ok", finished_at="2026-11-01T00:01:00Z")
    store.close()
    return home


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("search", "x", "--offset", HUGE), "--offset"),
        (("search", "x", "--offset", "-1"), "--offset"),
        (("search", "x", "--limit", HUGE), "--limit"),
        (("search", "x", "--limit", "0"), "--limit"),
        (("search", "x", "--km", "1e308", "--near", "60,17"), "--km"),
        (("search", "x", "--km", "nan", "--near", "60,17"), "--km"),
        (("search", "x", "--min-score", "1e400"), "--min-score"),
        (("search", "x", "--min-score", "nan"), "--min-score"),
        (("search", "x", "--since", "99999999d"), "99999999d"),
        (("search", "x", "--until", "99999999d"), "99999999d"),
        (("search", "x", "--since", "9999999999999999999999d"), "9999999999999999999999d"),
        (("search", "x", "--since", "0001-01-01T00:00:00+14:00"), "--since"),
        (("search", "x", "--until", "9999-12-31T23:00:00-05:00"), "--until"),
        (("runs", "--limit", HUGE), "--limit"),
        (("trends", "--top", HUGE), "--top"),
        (("trends", "--since", "99999999d"), "99999999d"),
        (("trends", "--until", "0001-01-01T00:00:00+14:00"), "--until"),
        # A value per day per town since year 1: 739,000 periods, gigabytes, before the cap.
        (("trends", "--since", "0001-01-02", "--interval", "day"), "--since"),
        (("alerts", "list", "--since", "99999999d"), "--since"),
        (("alerts", "list", "--since", "0001-01-01T00:00:00+14:00"), "--since"),
        (("alerts", "list", "--limit", HUGE), "--limit"),
        (("alerts", "evaluate", "--since", "99999999d"), "--since"),
        (("eval", "nothing.jsonl", "--errors", "-1"), "--errors"),
        (("demo-site", "--port", "99999999"), "--port"),
        (("demo", "--port", "70000"), "--port"),
    ],
)
def test_out_of_range_values_are_one_line_and_exit_2(indexed: Path, args: tuple[str, ...], option: str) -> None:
    result = run_adwatch(*args, home=indexed, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and option in lines[0], result.stderr


def test_the_largest_offset_sqlite_can_hold_is_an_empty_page(indexed: Path) -> None:
    result = run_adwatch("search", "--offset", str(2**63 - 1), "--json", home=indexed, check=True)
    data = json.loads(result.stdout)
    assert data["total"] == 2 and data["hits"] == []


def _schedule(tmp_path: Path, body: str) -> dict[str, str]:
    path = tmp_path / "schedule.yaml"
    path.write_text("timezone: Europe/Stockholm\nsources:\n" + body, encoding="utf-8")
    return {"ADWATCH_SCHEDULE": str(path)}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        # An `every` longer than a timedelta can hold: refused by the duration syntax.
        ("  nightlist:\n    every: 99999999999d\n", "longer than any time adwatch can count"),
        # One a timedelta holds, but the next start after the last run is past the year 9999.
        ("  nightlist:\n    every: 9999999d\n", "past the year 9999"),
        # An entry for a source that does not exist, and a field that is not a duration.
        ("  nosuchsource:\n    every: 6h\n", "no such source"),
        ("  nightlist:\n    every: soon\n", "sources.nightlist.every"),
    ],
)
def test_schedule_show_exits_1_when_it_reports_a_problem(indexed: Path, tmp_path: Path, body: str,
                                                          problem: str) -> None:
    env = _schedule(tmp_path, body)
    for json_flag in ((), ("--json",)):
        result = run_adwatch("schedule", "show", *json_flag, home=indexed, env=env, timeout=60)
        assert "Traceback" not in result.stderr, result.stderr[-2000:]
        assert result.returncode == 1, result.stderr
        assert problem in result.stderr
        assert all(line.startswith("error: ") for line in result.stderr.strip().splitlines())
        if json_flag:
            json.loads(result.stdout)  # the rows that could be shown, still only JSON


def test_schedule_show_exits_0_for_a_good_schedule(indexed: Path, tmp_path: Path) -> None:
    env = _schedule(tmp_path, "  nightlist:\n    every: 6h\n")
    result = run_adwatch("schedule", "show", home=indexed, env=env, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert "nightlist" in result.stdout and "every 6h" in result.stdout
