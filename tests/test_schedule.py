"""Scheduled crawls: the schedule file, what is due when, the per-source lock, `schedule once`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adwatch.demo.server import DemoSite
from adwatch.scheduler import SourceBusy, crawl_lock, due_sources, is_locked
from config.schedule_schema import Schedule, SourceSchedule, load_schedule
from tests.conftest import ROOT, run_adwatch

SOURCES_DIR = ROOT / "config" / "sources"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedule.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "field", "reason"), [
    ("sources:\n  annonsguiden:\n    cron: '61 * * * *'\n", "sources.annonsguiden.cron", "not a cron expression"),
    ("sources:\n  annonsguiden:\n    every: 2 hours\n", "sources.annonsguiden.every", "not a duration"),
    ("sources:\n  annonsguiden:\n    every: 2h\n    cron: '0 * * * *'\n", "sources.annonsguiden",
     "exactly one of cron or every"),
    ("sources:\n  annonsguiden: {}\n", "sources.annonsguiden", "exactly one of cron or every"),
    ("sources:\n  annonsguiden:\n    every: 2h\n    window: 25:00-26:00\n", "sources.annonsguiden.window",
     "not a window"),
    ("sources:\n  annonsguiden:\n    every: 2h\n    colour: red\n", "sources.annonsguiden.colour",
     "Extra inputs are not permitted"),
    ("sources:\n  nosuchsite:\n    every: 2h\n", "sources.nosuchsite", "no such source"),
    ("timezone: Mars/Olympus\nsources: {}\n", "timezone", "not a time zone"),
    ("sources: [\n", "line 2", "invalid YAML"),
    # Valid cron syntax, but no such day: refused when the file is read, not when it is due.
    ("sources:\n  annonsguiden:\n    cron: '0 0 31 2 *'\n", "sources.annonsguiden.cron", "never fires"),
    ("sources:\n  annonsguiden:\n    cron: '0 0 31 4,6,9,11 *'\n", "sources.annonsguiden.cron", "never fires"),
])
def test_bad_entries_are_one_line_problems(tmp_path: Path, text: str, field: str, reason: str) -> None:
    path = write(tmp_path, text)
    schedule, problems = load_schedule(path, {"annonsguiden", "nightlist"})
    assert len(problems) == 1
    assert problems[0].file == str(path) and problems[0].field == field and reason in problems[0].reason


def test_good_entries_survive_a_bad_neighbour(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  annonsguiden:\n    every: 2h\n  nightlist:\n    cron: nonsense\n")
    schedule, problems = load_schedule(path, {"annonsguiden", "nightlist"})
    assert list(schedule.sources) == ["annonsguiden"] and len(problems) == 1


def test_the_shipped_schedule_is_valid() -> None:
    from config.source_schema import load_sources

    shipped = set(load_sources(ROOT / "config" / "sources")[0])
    schedule, problems = load_schedule(ROOT / "config" / "schedule.yaml", shipped)
    assert problems == [] and set(schedule.sources) == shipped  # every bundled source, every kind


def test_a_rare_but_real_cron_is_accepted(tmp_path: Path) -> None:
    # 29 February: up to eight years apart (2096 → 2104), still a real schedule.
    schedule, problems = load_schedule(write(tmp_path, "sources:\n  annonsguiden:\n    cron: '0 0 29 2 *'\n"),
                                       {"annonsguiden"})
    assert problems == [] and list(schedule.sources) == ["annonsguiden"]


NOW = datetime(2026, 11, 28, 12, 20, tzinfo=UTC)  # 13:20 in Stockholm


def test_one_rule_that_cannot_compute_its_next_start_never_stops_the_others() -> None:
    # A rule past validation whose next start raises (here an impossible cron, built without
    # the validator, as a rule from an older adwatch or a bug would be): reported, skipped alone.
    broken = SourceSchedule.model_construct(cron="0 0 31 2 *", every=None, jitter="0s", window=None,
                                            timeout="2h", enabled=True)
    schedule = Schedule.model_construct(timezone="Europe/Stockholm", sources={
        "annonsguiden": broken, "nightlist": SourceSchedule(every="1h")})
    problems: list[str] = []
    last = NOW - timedelta(hours=2)
    due = due_sources(schedule, {"annonsguiden": last, "nightlist": last}, NOW, problems.append)
    assert due == ["nightlist"]
    assert len(problems) == 1 and "annonsguiden" in problems[0] and "never fires" in problems[0]
    assert "\n" not in problems[0]


@pytest.mark.parametrize(("rule", "last", "due"), [
    ({"every": "6h"}, None, True),  # never crawled
    ({"every": "6h"}, NOW - timedelta(hours=2), False),
    ({"every": "6h"}, NOW - timedelta(hours=7), True),
    ({"every": "6h"}, NOW - timedelta(days=9), True),  # many missed starts: one run (coalesced)
    ({"cron": "15 */2 * * *"}, datetime(2026, 11, 28, 10, 15, tzinfo=UTC), True),  # 11:15 → 13:15 local passed
    ({"cron": "15 */2 * * *"}, datetime(2026, 11, 28, 12, 15, tzinfo=UTC), False),  # next 15:15 local
    ({"every": "1h", "window": "22:00-06:00"}, None, False),  # 13:20 is outside a night window
    ({"every": "1h", "window": "09:00-17:00"}, None, True),
    ({"every": "1h", "enabled": False}, None, False),
    ({"every": "6h", "jitter": "0s"}, NOW - timedelta(hours=6), True),
])
def test_due(rule: dict[str, object], last: datetime | None, due: bool) -> None:
    schedule = Schedule(sources={"annonsguiden": SourceSchedule.model_validate(rule)})
    assert due_sources(schedule, {"annonsguiden": last}, NOW) == (["annonsguiden"] if due else [])


def test_jitter_delays_within_its_bound_and_is_stable() -> None:
    schedule = Schedule(sources={"annonsguiden": SourceSchedule(every="1h", jitter="30min")})
    last = NOW - timedelta(hours=1)
    assert due_sources(schedule, {"annonsguiden": last}, NOW + timedelta(minutes=31)) == ["annonsguiden"]
    answers = {tuple(due_sources(schedule, {"annonsguiden": last}, NOW + timedelta(minutes=m))) for m in range(31)}
    assert answers <= {(), ("annonsguiden",)}
    first_due = next(m for m in range(32) if due_sources(schedule, {"annonsguiden": last}, NOW + timedelta(minutes=m)))
    assert all(due_sources(schedule, {"annonsguiden": last}, NOW + timedelta(minutes=m)) for m in range(first_due, 32))


def test_one_crawl_per_source_and_a_crash_frees_the_lock(tmp_path: Path) -> None:
    with crawl_lock(tmp_path, "annonsguiden"):
        assert is_locked(tmp_path, "annonsguiden") and not is_locked(tmp_path, "nightlist")
        with pytest.raises(SourceBusy, match="another crawl"), crawl_lock(tmp_path, "annonsguiden"):
            pass
    assert not is_locked(tmp_path, "annonsguiden")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, '.');"
        "from adwatch.scheduler import crawl_lock;"
        f"ctx = crawl_lock({str(tmp_path)!r}, 'nightlist'); ctx.__enter__(); print('held', flush=True);"
        "time.sleep(60)")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert is_locked(tmp_path, "nightlist")
    holder.kill()  # kill -9: no cleanup runs
    holder.wait()
    holder.stdout.close()
    assert not is_locked(tmp_path, "nightlist")


@pytest.fixture
def scheduled(tmp_path: Path, home: Path) -> Iterator[tuple[DemoSite, dict[str, str]]]:
    site = DemoSite(seed=3, count=40, flaky=False)
    site.start()
    sources = tmp_path / "sources"
    sources.mkdir()
    for path in SOURCES_DIR.glob("*.yaml"):  # the shipped sources, on this test's own demo site
        text = path.read_text(encoding="utf-8").replace("http://127.0.0.1:8765", site.base_url)
        (sources / path.name).write_text(text, encoding="utf-8")
    schedule = write(tmp_path, "sources:\n  annonsguiden:\n    every: 1h\n  nightlist:\n    every: 1h\n")
    env = {"ADWATCH_SOURCES_DIR": str(sources), "ADWATCH_SCHEDULE": str(schedule)}
    yield site, env
    site.stop()


@pytest.mark.slow
def test_schedule_once_runs_what_is_due_and_records_it(scheduled: tuple[DemoSite, dict[str, str]], home: Path,
                                                      tmp_path: Path) -> None:
    site, env = scheduled
    first = run_adwatch("schedule", "once", "--json", home=home, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    runs = json.loads(first.stdout)
    assert sorted(r["source"] for r in runs) == ["annonsguiden", "nightlist"]
    assert {r["status"] for r in runs} == {"ok"}
    again = run_adwatch("schedule", "once", "--json", home=home, env=env)
    assert again.returncode == 0 and json.loads(again.stdout) == []  # nothing due an hour later… not yet
    recorded = json.loads(run_adwatch("runs", "--json", home=home, env=env, check=True).stdout)
    assert len(recorded) == 2
    # A crawl by hand while the source's lock is held (as by a running crawl) is refused.
    with crawl_lock(home, "nightlist"):
        manual = run_adwatch("crawl", "nightlist", home=home, env=env)
    assert manual.returncode == 1 and "another crawl of this source is running" in manual.stderr


@pytest.mark.slow
def test_schedule_once_skips_an_impossible_cron_and_crawls_the_rest(scheduled: tuple[DemoSite, dict[str, str]],
                                                                    home: Path, tmp_path: Path) -> None:
    _, env = scheduled
    path = write(tmp_path, "sources:\n  annonsguiden:\n    cron: '0 0 31 2 *'\n  nightlist:\n    every: 1h\n")
    result = run_adwatch("schedule", "once", "--json", home=home, env=env | {"ADWATCH_SCHEDULE": str(path)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert [r["source"] for r in json.loads(result.stdout)] == ["nightlist"]
    (line,) = [line for line in result.stderr.splitlines() if "annonsguiden" in line]
    assert str(path) in line and "sources.annonsguiden.cron" in line and "never fires" in line
    assert "Traceback" not in result.stderr


def test_a_scheduled_crawl_refused_at_start_never_finishes_another_crawls_run(home: Path) -> None:
    # Another crawl took the source between the scheduler's look and its child's start: the
    # child is refused; its "run" is a one-line skip, and the other crawl's running row is not
    # adopted and finished (it lives: its lock is held).
    from adwatch.crawl_lock import lock_path, this_host
    from adwatch.scheduler import run_crawl
    from index.rules import RunOwner, owner_stats
    from index.sqlite import SqliteStore

    store = SqliteStore(home / "adwatch.db")
    other = store.start_run("nightlist", "2099-01-01T00:00:00Z")  # started after the child: its race
    held = lock_path(home, "nightlist")
    store.finish_run(other, stats=owner_stats(RunOwner(this_host(), 1, str(held.resolve()))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_")} | {
        "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"}
    with crawl_lock(home, "nightlist"):
        row = run_crawl("nightlist", timedelta(minutes=5), env, lambda: SqliteStore(home / "adwatch.db"))
        assert row["status"] == "skipped" and "another crawl of this source is running" in row["reason"]
        assert [(r["id"], r["status"]) for r in store.runs("nightlist")] == [(other, "running")]
    store.close()


@pytest.mark.slow
def test_a_crawl_past_its_timeout_is_stopped_and_recorded(scheduled: tuple[DemoSite, dict[str, str]],
                                                           home: Path, tmp_path: Path) -> None:
    site, env = scheduled
    # Every page answers after 4 s, so the crawl itself outlasts its 10 s; the timeout falls while it
    # crawls, after the process has started (a 1 s timeout fell during start-up: on a loaded CI
    # machine that SIGINT was lost and the crawl ran to its end).
    site.latency = 4.0
    env = env | {"ADWATCH_SCHEDULE": str(write(tmp_path, "sources:\n  nightlist:\n    every: 1h\n    timeout: 10s\n"))}
    result = run_adwatch("schedule", "once", "--json", home=home, env=env)
    assert result.returncode == 1
    (run,) = json.loads(result.stdout)
    assert run["status"] in ("failed", "interrupted") and "timeout" in (run["reason"] or "")
    assert "Traceback" not in result.stderr
    assert os.environ.get("ADWATCH_HOME") != str(home)  # the test never touched the real data folder


def _running(home: Path) -> bool:
    from index.sqlite import SqliteStore

    if not (home / "adwatch.db").exists():
        return False
    import sqlite3

    store = SqliteStore(home / "adwatch.db", readonly=True)
    try:
        return any(run["status"] == "running" for run in store.runs())
    except sqlite3.OperationalError:  # the file exists, its tables not yet: the scheduler is still creating them
        return False
    finally:
        store.close()


@pytest.mark.slow
def test_schedule_run_stops_cleanly_on_sigterm(scheduled: tuple[DemoSite, dict[str, str]], home: Path,
                                                tmp_path: Path) -> None:
    import signal
    import time

    _, env = scheduled
    sources = Path(env["ADWATCH_SOURCES_DIR"])
    slow = (sources / "nightlist.yaml").read_text(encoding="utf-8")
    slow = re.sub(r"(?m)^  delay: .*$", "  delay: 0.5", slow)
    slow = re.sub(r"(?m)^  concurrency: .*$", "  concurrency: 1", slow)
    assert "delay: 0.5" in slow
    (sources / "nightlist.yaml").write_text(slow, encoding="utf-8")
    env = env | {"ADWATCH_SCHEDULE": str(write(tmp_path, "sources:\n  nightlist:\n    every: 1h\n"))}
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_") or k.startswith("ADWATCH_TEST")}
    service = subprocess.Popen([sys.executable, "-m", "adwatch", "schedule", "run"], cwd=ROOT, text=True,
                               env=inherited | env | {"ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _running(home):
            time.sleep(0.5)
        time.sleep(2)  # the crawl is under way, fetching pages
        assert is_locked(home, "nightlist")
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=120)
    finally:
        if service.poll() is None:
            service.kill()
            service.communicate()
    assert service.returncode == 0, stderr[-2000:]
    assert "stopping" in stderr and "Traceback" not in stderr
    runs = json.loads(run_adwatch("runs", "--json", home=home, env=env, check=True).stdout)
    assert [r["status"] for r in runs] == ["interrupted"]
    assert not is_locked(home, "nightlist")


# --- the daily purge ------------------------------------------------------------------------------


def test_a_purge_entry_is_read_and_checked(tmp_path: Path) -> None:
    schedule, problems = load_schedule(write(tmp_path, "purge:\n  at: '03:30'\n  timeout: 1h\nsources: {}\n"), set())
    assert problems == [] and schedule.purge is not None and schedule.purge.at == "03:30"
    bad, problems = load_schedule(write(tmp_path, "purge:\n  at: '25:00'\nsources: {}\n"), set())
    assert bad.purge is None and len(problems) == 1 and problems[0].field == "purge.at"
    assert "time of day" in problems[0].reason
    shipped, _ = load_schedule(ROOT / "config" / "schedule.yaml")
    assert shipped.purge is not None and shipped.purge.enabled


@pytest.mark.parametrize(("last", "now", "due"), [
    (None, NOW, True),  # never purged
    (datetime(2026, 11, 28, 2, 31, tzinfo=UTC), NOW, False),  # 03:31 Stockholm today: done
    (datetime(2026, 11, 27, 2, 31, tzinfo=UTC), NOW, True),  # yesterday's: today's 03:30 has passed
    (datetime(2026, 11, 27, 2, 31, tzinfo=UTC), datetime(2026, 11, 28, 2, 0, tzinfo=UTC), False),  # 03:00: not yet
])
def test_purge_is_due_once_a_day(last: datetime | None, now: datetime, due: bool) -> None:
    from config.schedule_schema import PurgeSchedule

    assert PurgeSchedule(at="03:30").due(last, now, Schedule().zone) is due
    assert PurgeSchedule(at="03:30", enabled=False).due(last, now, Schedule().zone) is False


def test_schedule_once_purges_daily_and_reports_a_failed_purge(home: Path, tmp_path: Path) -> None:
    env = {"ADWATCH_SCHEDULE": str(write(tmp_path, "purge:\n  at: '03:30'\nsources: {}\n")),
           "ADWATCH_NOW": "2027-12-01T03:00:00Z"}
    first = run_adwatch("schedule", "once", "--json", home=home, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    (row,) = json.loads(first.stdout)
    assert row["source"] == "purge" and row["status"] == "ok"
    again = run_adwatch("schedule", "once", "--json", home=home, env=env)
    assert again.returncode == 0 and json.loads(again.stdout) == []  # done for today

    # A purge that fails (its report folder cannot be made: a file is in the way) is a failed row,
    # exit 1, a `purge.failed` audit entry; the scheduler goes on, and tries again the next day.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "purge").write_text("in the way", encoding="utf-8")
    failed = run_adwatch("schedule", "once", "--json", home=broken, env=env)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    (row,) = json.loads(failed.stdout)
    assert row["status"] == "failed" and "purge" in row["reason"]
    audit = json.loads(run_adwatch("audit", "--action", "purge.failed", "--json", home=broken, env=env,
                                   check=True).stdout)
    assert len(audit) == 1 and audit[0]["user"].startswith("scheduler:")
    assert json.loads(run_adwatch("schedule", "once", "--json", home=broken, env=env).stdout) == []
    next_day = env | {"ADWATCH_NOW": "2027-12-02T03:00:00Z"}
    assert [r["source"] for r in json.loads(run_adwatch("schedule", "once", "--json", home=broken,
                                                        env=next_day).stdout)] == ["purge"]
