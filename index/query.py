"""The query model shared by every store: what an analyst can ask, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Sort = Literal["relevance", "newest", "score"]


@dataclass(frozen=True)
class Near:
    """Ads whose primary town lies within ``km`` of a point (great-circle distance)."""

    lat: float
    lon: float
    km: float


@dataclass
class SearchQuery:
    text: str = ""
    phone: str | None = None  # E.164; the CLI normalizes whatever the analyst typed
    towns: list[str] = field(default_factory=list)  # any town the ad names
    counties: list[str] = field(default_factory=list)  # the ad's primary county is one of these
    primary_towns: list[str] = field(default_factory=list)  # the ad's primary town is one of these (road corridors)
    languages: list[str] = field(default_factory=list)  # the ad's language is one of these
    ids: list[str] = field(default_factory=list)  # only these ads (saved searches over a written batch)
    since: datetime | None = None
    until: datetime | None = None
    sources: list[str] = field(default_factory=list)
    near: Near | None = None
    categories: list[str] = field(default_factory=list)  # any of these indicator categories
    min_score: float | None = None  # indicator score at least this
    sort: Sort | None = None  # default: relevance when there is text, else newest
    limit: int = 20
    offset: int = 0
    facets: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (saved searches, audit parameters); ``from_dict`` reads it back."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            elif isinstance(value, Near):
                value = {"lat": value.lat, "lon": value.lon, "km": value.km}
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchQuery:
        """The inverse of ``to_dict``; unknown keys are ignored (an older saved search still loads)."""
        values: dict[str, Any] = {k: v for k, v in data.items() if k in _FIELDS}
        for name in ("since", "until"):
            if values.get(name):
                values[name] = datetime.fromisoformat(str(values[name]).replace("Z", "+00:00"))
        if values.get("near"):
            values["near"] = Near(**values["near"])
        return cls(**values)

    @property
    def effective_sort(self) -> Sort:
        return self.sort or ("relevance" if self.text.strip() else "newest")


@dataclass
class SearchResult:
    total: int
    hits: list[dict[str, Any]]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


_FIELDS: tuple[str, ...] = tuple(SearchQuery.__dataclass_fields__)
