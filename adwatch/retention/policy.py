"""The retention settings as cut-off times: data older than its class's cut-off may be purged."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from adwatch.core.clock import iso
from adwatch.core.durations import parse_duration

CLASSES = ("ads", "registry", "evidence", "alerts", "runs", "audit")


@dataclass(frozen=True)
class Cutoffs:
    """ISO times: what is older than its class's time goes (strings in one format sort as times)."""

    ads: str  # ads by last seen, versions by when they were replaced
    registry: str  # registry entries no ad carries, by last seen (never before the alert look-back)
    evidence: str  # archived records no kept ad or version points to, by fetch time
    alerts: str
    runs: str
    audit: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class RetentionPolicy:
    ads: timedelta
    registry: timedelta
    evidence: timedelta
    alerts: timedelta
    runs: timedelta
    audit: timedelta
    # The alerts' look-back (new_numbers.lookback_days): a number unseen this long is new again.
    # A registry entry is kept at least this long after its last sighting, so purging its ads
    # never makes a number "new" sooner than the look-back would (None: no look-back configured).
    lookback: timedelta | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> RetentionPolicy:
        spans = {name: parse_duration(str(settings.get(f"ADWATCH_RETAIN_{name.upper()}"))) for name in CLASSES}
        return cls(**spans, lookback=alert_lookback(str(settings.get("ADWATCH_ALERTS") or "")))

    def cutoffs(self, now: datetime) -> Cutoffs:
        registry = max(self.registry, self.lookback or timedelta(0))
        return Cutoffs(ads=iso(now - self.ads), registry=iso(now - registry), evidence=iso(now - self.evidence),
                       alerts=iso(now - self.alerts), runs=iso(now - self.runs), audit=iso(now - self.audit))


def alert_lookback(path: str) -> timedelta | None:
    """The alerts file's look-back, None without one (alerts off, no file, a file that does not read:
    then the registry keeps its own retention only, and ``adwatch alerts check`` reports the file)."""
    if not path or not Path(path).is_file():
        return None
    from config.alerts_schema import load_alerts

    config, _ = load_alerts(path)
    days = config.new_numbers.lookback_days
    return timedelta(days=days) if days else None
