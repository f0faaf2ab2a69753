"""The items that travel from spiders through pipelines to the store.

``Ad`` is the Ad document of docs/ARCHITECTURE.md (the contract between stages); spiders fill
what a page shows, pipelines fill the rest. ``AdSighting`` says "these known ads are
still listed" without fetching them again, so the store can move ``last_seen_at``; one
item per listing page, not per ad, keeps Scrapy's per-item overhead off the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Ad:
    id: str
    source: str
    url: str
    site_id: str | None = None
    fetched_at: str | None = None
    # The phone region: the source's, else ADWATCH_DEFAULT_REGION (the page fills it in).
    region: str | None = None
    timezone: str = "Europe/Stockholm"
    # As the page shows them (normalize cleans them in place).
    title: str = ""
    text: str = ""
    posted_at: str | None = None
    location: str | None = None
    poster: str | None = None
    age: Any = None
    price: Any = None
    currency: str | None = None
    phone_field: str | None = None
    images: list[str] = field(default_factory=list)
    # Filled by dedupe.
    first_seen_at: str | None = None
    last_seen_at: str | None = None
    removed_at: str | None = None
    content_hash: str | None = None
    version: int = 1
    # Filled by enrich (nlp.extract).
    phones: list[str] = field(default_factory=list)
    phone_details: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    towns: list[dict[str, Any]] = field(default_factory=list)
    town: str | None = None
    county: str | None = None
    lat: float | None = None
    lon: float | None = None
    road: str | None = None  # the nearest highway to the primary town (geo/highways.py)
    road_km: float | None = None
    language: str | None = None
    indicators: list[dict[str, Any]] = field(default_factory=list)
    indicator_score: float = 0.0
    evidence: dict[str, Any] | None = None


@dataclass
class AdSighting:
    ids: list[str]
    source: str
    seen_at: str
