"""adwatch's one clock, and one timestamp format everywhere: UTC ISO 8601 with a Z, so strings sort as times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adwatch.core.durations import DurationError, looks_like_duration, parse_duration

_FMT = "%Y-%m-%dT%H:%M:%SZ"


_offset = timedelta(0)  # from the real clock to adwatch's clock (ADWATCH_NOW); zero normally


def set_now(moment: datetime | None) -> None:
    """Make adwatch's clock read ``moment`` now and run on from there (None: the real clock).
    Tests and demos of simulated days use it; nothing else should."""
    global _offset
    _offset = (moment - datetime.now(UTC)) if moment is not None else timedelta(0)


def utcnow() -> datetime:
    return (datetime.now(UTC) + _offset).replace(microsecond=0)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: attach a time zone before storing it")
    return moment.astimezone(UTC).strftime(_FMT)


def now_iso() -> str:
    return iso(utcnow())


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, _FMT).replace(tzinfo=UTC)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """A duration ago ('7d', '24h', '2w', '3mo', '1y'; see ``durations``) or an ISO date/time ('2026-11-01')."""
    if looks_like_duration(value):
        try:
            return (now or utcnow()) - parse_duration(value)
        except OverflowError:
            raise DurationError(f"{value!r} reaches back before the year 1") from None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise DurationError(f"not a time span (7d, 24h, 2w, 3mo) or ISO date: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
