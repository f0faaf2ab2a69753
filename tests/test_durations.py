"""One duration syntax (adwatch/core/durations.py): schedule.yaml and --since read it alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adwatch.core.clock import parse_since
from adwatch.core.durations import DurationError, parse_duration
from config.schedule_schema import SourceSchedule

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("30s", timedelta(seconds=30)), ("15min", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
    ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)), ("3mo", timedelta(days=90)),
    ("1y", timedelta(days=365)), (" 4d ", timedelta(days=4)), ("2 mo", timedelta(days=60)),
])
def test_units(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["5m", "30M"])
def test_a_bare_m_is_ambiguous_and_says_both_readings(text: str) -> None:
    with pytest.raises(DurationError, match="ambiguous.*min for minutes.*mo for months"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["", "5", "m5", "5 parsecs", "2 hours", "-3d", "1.5h"])
def test_not_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["99999999999999999999y", "5000y", "9" * 400 + "s"])
def test_absurdly_long_spans_are_errors_not_crashes(text: str) -> None:
    with pytest.raises(DurationError):
        parse_since(text, now=NOW)


def test_since_and_schedule_read_the_same_syntax() -> None:
    assert parse_since("15min", now=NOW) == NOW - timedelta(minutes=15)
    assert parse_since("3mo", now=NOW) == NOW - timedelta(days=90)
    assert SourceSchedule(every="15min").every == "15min"
    with pytest.raises(ValueError, match="ambiguous"):
        parse_since("5m", now=NOW)
    with pytest.raises(ValueError, match="ambiguous"):
        SourceSchedule(every="5m")
