"""Trends by town or county: the question, the counts a store returns, and the answer.

A store answers ``TrendQuery`` with raw counts per (period, key) — SQL ``GROUP BY`` in
SQLite, ``terms`` × ``date_histogram`` aggregations in Elasticsearch. ``shape`` turns the
counts into what an analyst reads: one series per town over every period, the change
against the previous period, and the towns that rose most. Both stores share ``shape``,
so they give the same answer for the same counts.

Metrics (periods are UTC days, ISO weeks starting Monday, or calendar months):
- ``ads``: ads by the day they were posted (else first seen), in their primary town;
- ``new_ads``: ads by the day adwatch first saw them;
- ``phones``: distinct phone numbers among the ads of the period;
- ``new_phones``: numbers by the day they were first seen, in the town they were first seen in;
- ``flagged``: ads at or above the indicator flag threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

Metric = Literal["ads", "new_ads", "phones", "new_phones", "flagged"]
By = Literal["town", "county"]
Interval = Literal["day", "week", "month"]
METRICS: tuple[str, ...] = ("ads", "new_ads", "phones", "new_phones", "flagged")
BYS: tuple[str, ...] = ("town", "county")
INTERVALS: tuple[str, ...] = ("day", "week", "month")


@dataclass(frozen=True)
class TrendQuery:
    metric: Metric = "ads"
    by: By = "town"
    interval: Interval = "week"
    since: datetime | None = None
    until: datetime | None = None
    keys: tuple[str, ...] = ()  # only these towns/counties (all when empty)
    flag_threshold: float = 2.0


Counts = dict[tuple[str, str], int]  # (period start "YYYY-MM-DD", key) → count


def period_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next(start: date, interval: str) -> date:
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def periods(first: date, last: date, interval: str) -> list[str]:
    """Every period from the one holding ``first`` to the one holding ``last``, gaps included."""
    out, current = [], period_start(first, interval)
    while current <= last:
        out.append(current.isoformat())
        current = _next(current, interval)
    return out


@dataclass
class Series:
    key: str
    values: list[int]
    total: int
    last: int
    previous: int
    change: int
    change_pct: float | None  # None when the previous period had none


@dataclass
class Trend:
    query: TrendQuery
    periods: list[str]
    series: list[Series] = field(default_factory=list)
    risers: list[Series] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.query.metric, "by": self.query.by, "interval": self.query.interval,
                "since": self.query.since.isoformat() if self.query.since else None, "periods": self.periods,
                "series": [vars(s) for s in self.series], "risers": [s.key for s in self.risers]}


def shape(query: TrendQuery, counts: Counts, top: int = 20, today: date | None = None) -> Trend:
    """Series for the ``top`` keys by total, over every period from ``since`` (or the first
    count) to ``until`` (or today); rising = largest change from the previous period."""
    if not counts:
        return Trend(query, [])
    seen = sorted({p for p, _ in counts})
    first = query.since.astimezone(UTC).date() if query.since else date.fromisoformat(seen[0])
    last = (query.until - timedelta(microseconds=1)).astimezone(UTC).date() if query.until else max(
        today or date.fromisoformat(seen[-1]), date.fromisoformat(seen[-1]))
    labels = periods(first, last, query.interval)
    keys = sorted({k for _, k in counts})
    all_series = []
    for key in keys:
        values = [counts.get((p, key), 0) for p in labels]
        previous = values[-2] if len(values) > 1 else 0
        change = values[-1] - previous
        all_series.append(Series(key, values, sum(values), values[-1], previous, change,
                                 round(100.0 * change / previous, 1) if previous else None))
    chosen = sorted(all_series, key=lambda s: (-s.total, s.key))[:top]
    risers = sorted((s for s in all_series if s.change > 0), key=lambda s: (-s.change, s.key))[:5]
    return Trend(query, labels, chosen, risers)
