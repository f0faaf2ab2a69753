"""One duration syntax for every setting, schedule and command line.

``30s``, ``15min``, ``2h``, ``7d``, ``2w``, ``3mo``, ``1y``. Minutes and months must not
share a letter: a bare ``m`` meant minutes in schedule.yaml and months in ``--since``,
so it is refused with a message that names both readings.
"""

from __future__ import annotations

import re
from datetime import timedelta

# Months and years are calendar-free here (30 and 365 days): spans for search and retention.
_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}
_SPAN = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$", re.I)
EXAMPLES = "30s, 15min, 2h, 7d, 2w, 3mo, 1y"


class DurationError(ValueError):
    pass


def looks_like_duration(text: str) -> bool:
    """A number with a unit word: tell a duration from a date before parsing either."""
    return bool(_SPAN.match(str(text)))


def parse_duration(text: str) -> timedelta:
    match = _SPAN.match(str(text))
    if not match:
        raise DurationError(f"{text!r} is not a duration like {EXAMPLES}")
    count, unit = int(match.group(1)), match.group(2).lower()
    if unit == "m":
        raise DurationError(f"{text!r} is ambiguous: write {count}min for minutes or {count}mo for months")
    if unit not in _SECONDS:
        raise DurationError(f"{text!r} is not a duration like {EXAMPLES} (unknown unit {match.group(2)!r})")
    try:
        return timedelta(seconds=count * _SECONDS[unit])
    except OverflowError:  # typed by a person or a file: say so, never a traceback
        raise DurationError(f"{text!r} is longer than any time adwatch can count") from None
