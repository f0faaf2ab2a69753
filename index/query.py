"""The query model shared by every store: what an analyst can ask, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    towns: list[str] = field(default_factory=list)
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

    @property
    def effective_sort(self) -> Sort:
        return self.sort or ("relevance" if self.text.strip() else "newest")


@dataclass
class SearchResult:
    total: int
    hits: list[dict[str, Any]]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
