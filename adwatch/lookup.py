"""What an analyst types → a SearchQuery (phones to E.164, towns to canonical names).

``region`` / ``country`` is ADWATCH_DEFAULT_REGION, passed in by the command: the phone
region of numbers written without +CC, and the country whose gazetteer names the towns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adwatch.core.clock import parse_since
from index.query import Near, SearchQuery

if TYPE_CHECKING:
    from geo.gazetteer import Gazetteer


def _places(country: str) -> Gazetteer:
    from geo.gazetteer import gazetteer

    try:
        return gazetteer(country)
    except FileNotFoundError as exc:  # a region adwatch has no towns for: say so, as a usage error
        raise ValueError(str(exc)) from None


def canonical_town(name: str, country: str) -> str:
    town = _places(country).resolve(name)
    return town.name if town else name.strip()


def parse_near(value: str, km: float, country: str) -> Near:
    """"LAT,LON" or a town name → a point with a radius."""
    parts = value.split(",")
    if len(parts) == 2:
        try:
            lat, lon = float(parts[0]), float(parts[1])
        except ValueError:
            pass
        else:
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                return Near(lat, lon, km)
            raise ValueError(f"--near: {value!r} is not a latitude,longitude")
    town = _places(country).resolve(value)
    if town is None:
        raise ValueError(f"--near: neither LAT,LON nor a known town: {value!r}")
    return Near(town.lat, town.lon, km)


def build_query(text: str = "", *, phone: str | None = None, towns: list[str] | None = None,
                since: str | None = None, until: str | None = None, sources: list[str] | None = None,
                sort: str | None = None, limit: int = 20, offset: int = 0, region: str,
                near: str | None = None, km: float = 25.0, categories: list[str] | None = None,
                min_score: float | None = None) -> SearchQuery:
    from nlp.phones import normalize_phone

    e164 = None
    if phone:
        e164 = normalize_phone(phone, region)
        if e164 is None:
            raise ValueError(f"--phone: not a valid phone number: {phone!r}")
    if sort not in (None, "relevance", "newest", "score"):
        raise ValueError(f"--sort: must be 'relevance', 'newest' or 'score', not {sort!r}")
    from nlp.indicators import CATEGORIES

    unknown = sorted(set(categories or []) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"--category: unknown {', '.join(unknown)} (one of {', '.join(CATEGORIES)})")
    return SearchQuery(
        text=text,
        near=parse_near(near, km, region) if near else None,
        categories=list(categories or []),
        min_score=min_score,
        phone=e164,
        towns=[canonical_town(t, region) for t in towns or []],
        since=parse_since(since) if since else None,
        until=parse_since(until) if until else None,
        sources=list(sources or []),
        sort=sort,  # type: ignore[arg-type]
        limit=limit,
        offset=offset,
    )
