"""Scheduled crawls: which sources are due, one subprocess per crawl, a lock per source.

- Due: never crawled, or the schedule's next start after the last run's start has come
  (missed starts coalesce into one run), inside the source's window, after its jitter.
- Each crawl runs as ``adwatch crawl SOURCE`` in its own process (Scrapy's reactor cannot
  restart in-process). A crawl holds ``ADWATCH_HOME/locks/SOURCE.lock`` (taken by the
  crawl itself, ``adwatch/crawl_lock.py``; an ``flock``:
  the kernel drops it when the process dies, so a crash never leaves it stale), so no
  two crawls of one source ever overlap, scheduled or manual.
- A crawl past its timeout gets SIGINT (Scrapy stops cleanly and records the run
  ``interrupted``), then SIGKILL a minute later; a crawl that dies without recording its
  run gets a ``failed`` run with the reason.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from adwatch.core.clock import iso, utcnow
from adwatch.crawl_lock import SourceBusy, crawl_lock, is_locked  # the lock's home; re-exported
from config.schedule_schema import Schedule, SourceSchedule, duration
from index.store import Store

__all__ = ["SourceBusy", "crawl_lock", "due_sources", "is_locked", "last_starts", "run_crawl"]

KILL_GRACE = 60.0  # seconds between SIGINT and SIGKILL for a crawl past its timeout


def _parse(stamp: str | None) -> datetime | None:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if stamp else None


def last_starts(store: Store, names: list[str]) -> dict[str, datetime | None]:
    out = {}
    for name in names:
        runs = store.runs(name, limit=1)
        out[name] = _parse(runs[0]["started_at"]) if runs else None
    return out


def _jitter(name: str, start: datetime, rule: SourceSchedule) -> timedelta:
    """The same delay for the same planned start (so `schedule once` from cron agrees with itself)."""
    spread = int(duration(rule.jitter).total_seconds())
    if spread <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{name}@{start.isoformat()}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:4], "big") % (spread + 1))


def due_sources(schedule: Schedule, starts: dict[str, datetime | None], now: datetime) -> list[str]:
    due = []
    for name, rule in schedule.sources.items():
        if not rule.enabled or not rule.in_window(now.astimezone(schedule.zone)):
            continue
        planned = rule.next_start(starts.get(name), schedule.zone)
        if planned is None or now >= planned + _jitter(name, planned, rule):
            due.append(name)
    return due


def run_crawl(source: str, timeout: timedelta, env: dict[str, str], store_factory: Callable[[], Store],
              on_start: Callable[[subprocess.Popen[str]], None] | None = None) -> dict[str, Any]:
    """One crawl in its own process; returns its run row (recording a failed one if it left none)."""
    started = utcnow().replace(microsecond=0)
    if env.get("ADWATCH_NOW"):  # a simulated clock: the crawl goes on from our moment, not from the start
        env = env | {"ADWATCH_NOW": iso(started)}
    command = [sys.executable, "-m", "adwatch", "crawl", source, "--json"]
    # A session of its own: a terminal's Ctrl-C or systemd's stop reaches the crawl once,
    # through the scheduler, since a second SIGINT makes Scrapy stop without flushing.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    if on_start:
        on_start(process)
    reason = None
    try:
        stdout, stderr = process.communicate(timeout=timeout.total_seconds())
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        reason = f"stopped after its timeout of {timeout}"
    rows: list[dict[str, Any]] = []
    try:
        rows = json.loads(stdout) if stdout.strip() else []
    except ValueError:
        rows = []
    store = store_factory()
    try:
        recorded = [r for r in store.runs(source, limit=5) if (_parse(r["started_at"]) or started) >= started]
        row = rows[0] if rows else (recorded[0] if recorded else None)
        if row is not None and row.get("status") == "running":  # killed before it could finish the row
            store.finish_run(row["id"], finished_at=iso(utcnow()), status="failed",
                             reason=reason or f"the crawl process exited {process.returncode}")
            row = store.runs(source, limit=1)[0]
        if row is None:
            last = (stderr.strip().splitlines() or [""])[-1][:300]
            run_id = store.start_run(source, iso(started))
            store.finish_run(run_id, finished_at=iso(utcnow()), status="failed",
                             reason=reason or f"the crawl process exited {process.returncode}: {last}")
            row = store.runs(source, limit=1)[0]
        elif reason and row.get("id") is not None:
            store.finish_run(row["id"], reason=f"{reason}; {row.get('reason') or row.get('status')}")
            row = next((r for r in store.runs(source, limit=5) if r["id"] == row["id"]), row)
        return row
    finally:
        store.close()


class Stopper:
    """SIGTERM/SIGINT: stop starting crawls, pass SIGINT on to the running ones."""

    def __init__(self) -> None:
        self.stopping = False
        self.running: list[subprocess.Popen[str]] = []

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopping = True
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)


def sleep_until(moment: float, stopper: Stopper) -> None:
    while not stopper.stopping and time.monotonic() < moment:
        time.sleep(min(1.0, max(0.0, moment - time.monotonic())))
