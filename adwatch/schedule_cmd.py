"""``adwatch schedule …``: show, run due crawls once (cron/systemd), or run as a service."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import datetime
from typing import Annotated, Any

import typer

from adwatch.core.clock import utcnow
from adwatch.output import err, fail, out, print_json, runs_table, visible
from adwatch.settings import load_settings
from index.store import StoreUnavailable

schedule_app = typer.Typer(help="Scheduled crawls (config/schedule.yaml).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, on stdout.")]
_POLL = 15.0  # seconds between looks at the schedule in `schedule run`
_PURGE_RETRY = 3600.0  # seconds before `schedule run` looks at a purge again after starting one


def _load() -> tuple[Any, Any, int]:
    """Settings, the valid part of the schedule, and how many problems were reported (one line each)."""
    from config.schedule_schema import load_schedule
    from config.source_schema import load_sources

    settings = load_settings()
    sources, _ = load_sources(settings.get("ADWATCH_SOURCES_DIR"))
    schedule, problems = load_schedule(settings.get("ADWATCH_SCHEDULE"), set(sources))
    for problem in problems:
        fail(f"skipped: {problem}")
    return settings, schedule, len(problems)


def _starts(settings: Any, names: list[str]) -> dict[str, datetime | None]:
    from adwatch.scheduler import last_starts
    from index.open import open_store, store_config

    store = open_store(store_config(settings))
    try:
        return last_starts(store, names)
    finally:
        store.close()


def _crawl(settings: Any, schedule: Any, name: str, stopper: Any = None) -> dict[str, Any]:
    from adwatch.scheduler import run_crawl
    from config.schedule_schema import duration
    from index.open import open_store, store_config

    def on_start(process: Any) -> None:
        if stopper is not None:
            stopper.running.append(process)
            if stopper.stopping:  # the stop came between the start and now
                process.send_signal(signal.SIGINT)

    err.print(visible(f"crawling {name} …", False), markup=False)
    where = store_config(settings)
    # The crawl is a child `adwatch crawl`: it gets this process's environment, so the same
    # ADWATCH_* variables (config/environment.py) configure it, plus the store this process
    # records into (which `adwatch --store …` may have chosen instead of ADWATCH_STORE).
    env = dict(os.environ) | {"ADWATCH_STORE": where.url}
    return run_crawl(name, duration(schedule.sources[name].timeout), env, lambda: open_store(where), on_start)


def _purge_due(settings: Any, schedule: Any) -> bool:
    """Whether the daily purge is due now (the schedule has one, and it has not run since its start)."""
    from adwatch.scheduler import last_purge
    from index.open import open_store, store_config

    if schedule.purge is None or not schedule.purge.enabled:
        return False
    store = open_store(store_config(settings))
    try:
        return bool(schedule.purge.due(last_purge(store), utcnow(), schedule.zone))
    finally:
        store.close()


def _purge(settings: Any, schedule: Any, stopper: Any = None) -> dict[str, Any]:
    from adwatch.scheduler import run_purge
    from config.schedule_schema import duration
    from index.open import open_store, store_config

    def on_start(process: Any) -> None:
        if stopper is not None:
            stopper.running.append(process)
            if stopper.stopping:
                process.send_signal(signal.SIGINT)

    err.print("purging what is past retention …", markup=False)
    where = store_config(settings)
    env = dict(os.environ) | {"ADWATCH_STORE": where.url}
    row = run_purge(duration(schedule.purge.timeout), env, lambda: open_store(where), on_start)
    if row["status"] != "ok":
        fail(f"purge: failed ({row['reason']})")
    return row


@schedule_app.command("show")
def show(as_json: JsonOpt = False) -> None:
    """Each scheduled source: its rule, last start, next start. Exit 1 when it reports a
    problem (an entry skipped, a next start that cannot be computed), so a check fails."""
    settings, schedule, problems = _load()
    starts = _starts(settings, list(schedule.sources))
    rows = []
    for name, rule in schedule.sources.items():
        last = starts[name]
        try:
            planned = rule.next_start(last, schedule.zone)
            next_start = planned.isoformat() if planned else "now"
        except (ValueError, OverflowError) as exc:  # `every: 9999999d` after a start: past the year 9999
            reason = str(exc) if isinstance(exc, ValueError) else "it falls past the year 9999"
            fail(f"{name}: cannot compute its next start: {reason}")
            problems += 1
            next_start = None
        rows.append({"source": name, "rule": rule.cron or f"every {rule.every}", "window": rule.window,
                     "last_start": last.isoformat() if last else None,
                     "next_start": next_start, "enabled": rule.enabled})
    if as_json:
        print_json(rows)
    else:
        _print_rows(rows)
    if problems:
        raise typer.Exit(1)


def _print_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        out.print(visible(f"{row['source']:>16}  {row['rule']:<18} last {row['last_start'] or 'never'}  "
                          f"next {row['next_start'] or '?'}" + ("" if row["enabled"] else "  (disabled)"), False),
                  markup=False)


@schedule_app.command("once")
def once(as_json: JsonOpt = False) -> None:
    """Run every due crawl once, one after another, and exit (for cron or a systemd timer)."""
    from adwatch.scheduler import due_sources, is_locked

    settings, schedule, _ = _load()
    due = due_sources(schedule, _starts(settings, list(schedule.sources)), utcnow())
    home = settings.get("ADWATCH_HOME")
    runs = []
    for name in due:
        if is_locked(home, name):
            err.print(visible(f"{name}: a crawl is already running; skipped", False), markup=False)
            continue
        runs.append(_crawl(settings, schedule, name))
    try:
        if _purge_due(settings, schedule):  # after the crawls: it never delays one
            runs.append(_purge(settings, schedule))
    except StoreUnavailable as exc:
        fail(f"purge: store unavailable ({exc}); not run")
        runs.append({"id": None, "source": "purge", "started_at": None, "finished_at": None, "status": "failed",
                     "pages": 0, "new_ads": 0, "updated_ads": 0, "removed_ads": 0, "errors": 1,
                     "reason": f"store unavailable: {exc}", "stats": {}})
    if as_json:
        print_json(runs)
    elif runs:
        out.print(runs_table(runs))
    else:
        err.print("nothing due")
    # "skipped": another crawl of that source started first, which is no failure of this one.
    if any(run["status"] not in ("ok", "skipped") for run in runs):
        raise typer.Exit(1)


@schedule_app.command("run")
def run() -> None:
    """Run as a service: start crawls as they fall due until SIGTERM or Ctrl-C, which stop
    the running crawls cleanly (recorded as interrupted)."""
    from adwatch.scheduler import Stopper, due_sources, is_locked, sleep_until

    settings, schedule, _ = _load()
    if not schedule.sources and schedule.purge is None:
        fail("no valid schedule entries: nothing to run")
        raise typer.Exit(2)
    stopper = Stopper()
    stopper.install()
    home = settings.get("ADWATCH_HOME")
    workers: dict[str, threading.Thread] = {}
    purge_retry = 0.0
    err.print(f"scheduler: {len(schedule.sources)} source(s); Ctrl-C or SIGTERM stops it")
    while not stopper.stopping:
        busy = {name for name, worker in workers.items() if worker.is_alive()}
        try:
            due = due_sources(schedule, _starts(settings, list(schedule.sources)), utcnow())
        except StoreUnavailable as exc:  # the store is down: look again later, crawls will spool
            err.print(visible(f"scheduler: store unavailable ({exc}); trying again in {_POLL:.0f} s", False),
                      markup=False)
            due = []
        purging = "purge" in workers and workers["purge"].is_alive()
        try:
            if not purging and not stopper.stopping and time.monotonic() >= purge_retry \
                    and _purge_due(settings, schedule):
                purge_retry = time.monotonic() + _PURGE_RETRY  # a failure is recorded; the next look waits

                def purge_work() -> None:
                    row = _purge(settings, schedule, stopper)
                    err.print(visible(f"purge: {row['status']} ({row.get('reason') or 'no errors'})", False),
                              markup=False)

                workers["purge"] = threading.Thread(target=purge_work, name="purge", daemon=False)
                workers["purge"].start()
        except StoreUnavailable as exc:
            err.print(visible(f"scheduler: purge not started, store unavailable ({exc})", False), markup=False)
        for name in due:
            if stopper.stopping:
                break
            if name in busy or is_locked(home, name):
                continue

            def work(source: str = name) -> None:
                row = _crawl(settings, schedule, source, stopper)
                err.print(visible(f"{source}: {row['status']} ({row.get('reason') or 'no errors'})", False),
                          markup=False)

            workers[name] = threading.Thread(target=work, name=f"crawl-{name}", daemon=False)
            workers[name].start()
            busy.add(name)
            time.sleep(1.0)  # the new run row lands before the next look at the schedule
        sleep_until(time.monotonic() + _POLL, stopper)
    err.print("scheduler: stopping; waiting for running crawls to record their runs …")
    for worker in workers.values():
        worker.join()
