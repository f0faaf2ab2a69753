"""What an analyst types → a SearchQuery (phones to E.164, towns to canonical names)."""

from __future__ import annotations

from index.query import SearchQuery
from index.timeutil import parse_since


def canonical_town(name: str, country: str = "SE") -> str:
    from geo.gazetteer import gazetteer

    town = gazetteer(country).resolve(name)
    return town.name if town else name.strip()


def build_query(text: str = "", *, phone: str | None = None, towns: list[str] | None = None,
                since: str | None = None, until: str | None = None, sources: list[str] | None = None,
                sort: str | None = None, limit: int = 20, offset: int = 0, region: str = "SE") -> SearchQuery:
    from nlp.phones import normalize_phone

    e164 = None
    if phone:
        e164 = normalize_phone(phone, region)
        if e164 is None:
            raise ValueError(f"--phone: not a valid phone number: {phone!r}")
    if sort not in (None, "relevance", "newest", "score"):
        raise ValueError(f"--sort: must be 'relevance', 'newest' or 'score', not {sort!r}")
    return SearchQuery(
        text=text,
        phone=e164,
        towns=[canonical_town(t) for t in towns or []],
        since=parse_since(since) if since else None,
        until=parse_since(until) if until else None,
        sources=list(sources or []),
        sort=sort,  # type: ignore[arg-type]
        limit=limit,
        offset=offset,
    )
