"""``config/schedule.yaml``: when each source is crawled. Validated like the source files.

    timezone: Europe/Stockholm        # of cron expressions and windows
    sources:
      annonsguiden:
        cron: "15 */2 * * *"          # or: every: 2h
        jitter: 10min                 # start up to this much later, so crawls do not line up
        window: "06:00-23:30"         # only start inside this local time window
        timeout: 1h                   # a crawl still running after this is stopped, recorded failed
      nightlist:
        every: 6h
    purge:                            # adwatch purge (retention), once a day
      at: "03:30"                     # local time it is due from (a missed day runs at the next look)
      timeout: 2h                     # a purge still running after this is stopped, recorded failed
      enabled: true

``load_schedule`` never raises: it returns the schedule of the good entries and one
``SourceProblem`` (file, field, reason) per problem.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from adwatch.core.clock import utcnow
from adwatch.core.durations import parse_duration
from config.source_schema import SourceProblem, read_yaml

# A cron must fire within this many years of now, or it is refused as impossible ("31 February").
# Eight, because the rarest start a satisfiable cron can ask for is 29 February, and leap days
# can be eight years apart (2096 → 2104); a shorter horizon would refuse a real leap-day rule,
# a longer one only makes the search for an impossible date slower.
CRON_HORIZON_YEARS = 8

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def duration(text: str) -> timedelta:
    """"30s", "15min", "2h", "1d" → timedelta (the one syntax of ``adwatch.core.durations``)."""
    return parse_duration(text)


def next_cron_start(cron: str, after: datetime) -> datetime:
    """The cron's first start after ``after``; a ValueError if it has none within the horizon."""
    try:
        following: datetime = croniter(cron, after, max_years_between_matches=CRON_HORIZON_YEARS).get_next(datetime)
    except (CroniterError, ValueError, OverflowError):
        raise ValueError(f"{cron!r} never fires: no start within {CRON_HORIZON_YEARS} years "
                         "(a day the month does not have, like 31 February?)") from None
    return following


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSchedule(_Strict):
    cron: str | None = None
    every: str | None = None
    jitter: str = "0s"
    window: str | None = None
    timeout: str = "2h"
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (minute hour day month weekday)")
        next_cron_start(value, utcnow())  # it must ever fire
        return value

    @field_validator("every", "jitter", "timeout")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration(value)
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            match = _WINDOW.match(value)
            if not match or int(match.group(1)) > 23 or int(match.group(3)) > 24 or int(match.group(2)) > 59 \
                    or int(match.group(4)) > 59:
                raise ValueError(f"{value!r} is not a window like 06:00-23:30")
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> SourceSchedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of cron or every")
        if self.every is not None and duration(self.every) < timedelta(minutes=1):
            raise ValueError("every: at least 1min")
        return self

    def in_window(self, local: datetime) -> bool:
        if self.window is None:
            return True
        match = _WINDOW.match(self.window)
        assert match is not None
        start = time(int(match.group(1)), int(match.group(2)))
        end_hour, end_minute = int(match.group(3)), int(match.group(4))
        now = local.time()
        end = time(23, 59, 59) if end_hour == 24 else time(end_hour, end_minute)
        return start <= now < end if start <= end else now >= start or now < end  # a window past midnight

    def next_start(self, last: datetime | None, zone: ZoneInfo) -> datetime | None:
        """When the run after ``last`` is due (None: never ran, so now)."""
        if last is None:
            return None
        if self.every is not None:
            return last + duration(self.every)
        assert self.cron is not None
        return next_cron_start(self.cron, last.astimezone(zone))


_AT = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


class PurgeSchedule(_Strict):
    """``adwatch purge`` once a day, due from a local time."""

    at: str = "03:30"
    timeout: str = "2h"
    enabled: bool = True

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        match = _AT.match(value)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError(f"{value!r} is not a time of day like 03:30")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str) -> str:
        duration(value)
        return value

    def planned(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The latest planned start at or before ``now`` (today's ``at``, else yesterday's)."""
        match = _AT.match(self.at)
        assert match is not None
        local = now.astimezone(zone)
        start = local.replace(hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0)
        return start if start <= local else start - timedelta(days=1)

    def due(self, last: datetime | None, now: datetime, zone: ZoneInfo) -> bool:
        """Never purged, or not since the latest planned start."""
        return self.enabled and (last is None or last < self.planned(now, zone))


class Schedule(_Strict):
    timezone: str = "Europe/Stockholm"
    sources: dict[str, SourceSchedule] = {}
    purge: PurgeSchedule | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name like Europe/Stockholm") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_schedule(path: str | Path, known_sources: set[str] | None = None) -> tuple[Schedule, list[SourceProblem]]:
    file = Path(path)
    raw, problem = read_yaml(file)
    if problem is not None:
        return Schedule(), [problem]
    if not isinstance(raw, dict):
        return Schedule(), [SourceProblem(str(file), "(file)", "must be a mapping with 'sources'")]
    problems: list[SourceProblem] = []
    entries = raw.get("sources") or {}
    if not isinstance(entries, dict):
        return Schedule(), [SourceProblem(str(file), "sources", "must map source names to schedules")]
    good: dict[str, Any] = {}
    for name, entry in entries.items():
        if known_sources is not None and name not in known_sources:
            problems.append(SourceProblem(str(file), f"sources.{name}", "no such source in the source folder"))
            continue
        try:
            good[name] = SourceSchedule.model_validate(entry or {})
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(["sources", str(name), *(str(p) for p in err["loc"])])
                problems.append(SourceProblem(str(file), where, err["msg"].removeprefix("Value error, ")))
    purge = None
    if raw.get("purge") is not None:
        try:
            purge = PurgeSchedule.model_validate(raw["purge"])
        except ValidationError as exc:
            problems += [SourceProblem(str(file), ".".join(["purge", *(str(p) for p in e["loc"])]),
                                       e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
    try:
        schedule = Schedule(timezone=raw.get("timezone", "Europe/Stockholm"), sources=good, purge=purge)
    except ValidationError as exc:
        problems += [SourceProblem(str(file), ".".join(str(p) for p in e["loc"]) or "(file)",
                                   e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
        schedule = Schedule(sources=good, purge=purge)
    return schedule, problems
