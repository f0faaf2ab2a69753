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

import getpass
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
from adwatch.crawl_lock import SourceBusy, crawl_lock, is_locked, this_host  # the lock's home; re-exported
from adwatch.output import fail
from config.schedule_schema import Schedule, SourceSchedule, duration
from index.rules import CRASHED, run_owner
from index.store import Store

__all__ = ["SourceBusy", "crawl_lock", "due_sources", "is_locked", "last_purge", "last_starts", "run_crawl",
           "run_purge"]

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


def due_sources(schedule: Schedule, starts: dict[str, datetime | None], now: datetime,
                on_problem: Callable[[str], None] = fail) -> list[str]:
    """The sources due now. A source whose next start cannot be computed (whatever the
    exception) is reported through ``on_problem`` in one line and skipped: one bad rule
    never stops the others."""
    due = []
    for name, rule in schedule.sources.items():
        try:
            if not rule.enabled or not rule.in_window(now.astimezone(schedule.zone)):
                continue
            planned = rule.next_start(starts.get(name), schedule.zone)
            if planned is None or now >= planned + _jitter(name, planned, rule):
                due.append(name)
        except Exception as exc:  # any fault of one rule stays with its source
            on_problem(f"schedule: {name}: cannot compute its next start, skipped: {exc}")
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
    busy = str(SourceBusy.of([source]))
    if not rows and reason is None and process.returncode == 1 and busy in stderr:
        # Refused: another crawl took the source between our look and the child's. No run of
        # its own (as for any refused crawl); said in one line, like the crawl's own refusal.
        fail(f"{busy}; skipped")
        return {"id": None, "source": source, "started_at": iso(started), "finished_at": iso(utcnow()),
                "status": "skipped", "pages": 0, "new_ads": 0, "updated_ads": 0, "removed_ads": 0, "errors": 0,
                "reason": busy, "stats": {}}
    store = store_factory()
    try:
        # The child's own run: the one naming its process. Never another crawl's run of the source
        # that started meanwhile (that one is alive, and is not ours to finish).
        recorded = [r for r in store.runs(source, limit=20) if _run_of(r, process.pid)]
        row = rows[0] if rows else (recorded[0] if recorded else None)
        if row is not None and row.get("status") in ("running", CRASHED):  # ended before it could finish the row
            # Killed past its timeout: failed, and why; died on its own: crashed, with its exit code.
            store.finish_run(row["id"], finished_at=iso(utcnow()), status="failed" if reason else CRASHED,
                             reason=reason or f"the crawl process exited {process.returncode} without finishing "
                                              "its run")
            row = next((r for r in store.runs(source, limit=5) if r["id"] == row["id"]), row)
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


def _run_of(run: dict[str, Any], pid: int) -> bool:
    owner = run_owner(run)
    return owner is not None and owner.pid == pid and owner.host == this_host()


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


# --- the daily purge (retention) ----------------------------------------------------------------
PURGE_ACTIONS = ("purge", "purge.failed")  # audit actions that count as a day's purge attempt


def last_purge(store: Store) -> datetime | None:
    """When the last purge finished or failed (from the audit log: both stores, every process)."""
    stamps = [entry["at"] for action in PURGE_ACTIONS for entry in store.audit_entries(action=action, limit=1)]
    return max((moment for moment in map(_parse, stamps) if moment is not None), default=None)


def run_purge(timeout: timedelta, env: dict[str, str], store_factory: Callable[[], Store],
              on_start: Callable[[subprocess.Popen[str]], None] | None = None) -> dict[str, Any]:
    """``adwatch purge --json`` in its own process (a crash there never stops the scheduler); returns
    a row shaped like a crawl run's (``source`` "purge"). A failure is written to the audit log as
    ``purge.failed`` (with the reason), so it is recorded like a failed crawl and not retried before
    the next day's start; ``adwatch purge`` by hand finishes it any time."""
    started = utcnow().replace(microsecond=0)
    if env.get("ADWATCH_NOW"):
        env = env | {"ADWATCH_NOW": iso(started)}
    process = subprocess.Popen([sys.executable, "-m", "adwatch", "purge", "--json"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
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
    if reason is None and process.returncode != 0:
        reason = f"adwatch purge exited {process.returncode}: {(stderr.strip().splitlines() or [''])[-1][:300]}"
    result: dict[str, Any] = {}
    try:
        result = json.loads(stdout) if stdout.strip() and reason is None else {}
    except ValueError:
        reason = "adwatch purge printed no result"
    row: dict[str, Any] = {"id": None, "source": "purge", "started_at": iso(started), "finished_at": iso(utcnow()),
                           "status": "failed" if reason else "ok", "pages": 0, "new_ads": 0, "updated_ads": 0,
                           "removed_ads": int((result.get("counts") or {}).get("ads") or 0),
                           "errors": int(bool(reason)),
                           "reason": reason, "stats": {"counts": result.get("counts") or {}}}
    if reason:
        store = store_factory()
        try:
            store.audit_append(f"scheduler:{getpass.getuser()}", "purge.failed", {"reason": reason}, None,
                               iso(utcnow()))
        except Exception as exc:  # the store is the likely cause: the line on stderr still says it
            fail(f"purge: failed ({reason}), and the audit log did not get it ({exc})")
        finally:
            store.close()
    return row
