"""What an analyst types → a SearchQuery (phones to E.164, towns to canonical names).

``region`` / ``country`` is ADWATCH_DEFAULT_REGION, passed in by the command: the phone
region of numbers written without +CC, and the country whose gazetteer names the towns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from adwatch.core.clock import iso, parse_since
from adwatch.output import fail
from index.fts import check_query
from index.query import Near, SearchQuery

if TYPE_CHECKING:
    from geo.gazetteer import Gazetteer

# SQLite's INTEGER (what LIMIT and OFFSET take) is signed 64-bit: a larger number is no
# page of results but an OverflowError, so the command line stops at it.
SQLITE_INT_MAX = 2**63 - 1
# Half the earth's circumference: every point is within this many km of any other.
EARTH_HALF_KM = 20_040.0


def within(low: float, high: float) -> Callable[[typer.Context, typer.CallbackParam, Any], Any]:
    """A typer option callback: a number outside [low, high] (or not a finite number, as
    ``nan`` or ``1e400`` become) is one line on stderr and exit 2, never an overflow later.
    Used instead of typer's ``min``/``max``, whose error is a wrapped box of several lines."""

    def check(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if value is None or ctx.resilient_parsing:
            return value
        if not (isinstance(value, int) or math.isfinite(value)) or not low <= value <= high:
            name = max(param.opts, key=len) if param.opts else str(param.name)
            fail(f"{name}: {value} is out of range: give a number from {low:g} to {high:g}"
                 if isinstance(low, float) or isinstance(high, float)
                 else f"{name}: {value} is out of range: give a whole number from {low} to {high}")
            raise typer.Exit(2)
        return value

    return check


def moment(option: str, value: str) -> datetime:
    """A --since/--until value (a span ago or a date) as a time every store can write down:
    one ValueError naming the option, never an OverflowError from a date past year 9999 or before 1."""
    try:
        when = parse_since(value)
        iso(when)  # in UTC it may fall outside what datetime can hold (0001-01-01 at +14:00)
    except (ValueError, OverflowError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else f"{value!r} lies outside the years 1 to 9999"
        raise ValueError(f"{option}: {reason}") from None
    return when


def since_or_exit(value: str | None, option: str = "--since") -> str | None:
    """A command's --since as a stored timestamp (ISO, UTC), or one line on stderr and exit 2."""
    if value is None:
        return None
    try:
        return iso(moment(option, value))
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(2) from None


def _places(country: str) -> Gazetteer:
    from geo.gazetteer import gazetteer

    try:
        return gazetteer(country)
    except FileNotFoundError as exc:  # a region adwatch has no towns for: say so, as a usage error
        raise ValueError(str(exc)) from None


def _near_matches(name: str, names: list[str]) -> str:
    import difflib

    from geo.gazetteer import fold

    by_key = {fold(n): n for n in names}
    close = difflib.get_close_matches(fold(name), list(by_key), n=3, cutoff=0.75)
    return f"; did you mean {' or '.join(repr(by_key[k]) for k in close)}?" if close else ""


def canonical_town(name: str, country: str, option: str = "--town") -> str:
    """The gazetteer's spelling of a town; an unknown name is a ValueError (with near matches),
    never a silent filter that matches no ad."""
    places = _places(country)
    town = places.resolve(name)
    if town is None:
        raise ValueError(f"{option}: {name.strip()!r} is not a town in the {country} gazetteer"
                         + _near_matches(name, [t.name for t in places.towns]))
    return town.name


def canonical_county(name: str, country: str, option: str = "--town") -> str:
    """The gazetteer's spelling of a county (trends --by county), or a ValueError with near matches."""
    from geo.gazetteer import fold

    counties = sorted({t.county for t in _places(country).towns if t.county})
    for county in counties:
        if fold(county) == fold(name):
            return county
    raise ValueError(f"{option}: {name.strip()!r} is not a county in the {country} gazetteer"
                     + _near_matches(name, counties))


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
                min_score: float | None = None, max_chars: int | None = None,
                max_terms: int | None = None) -> SearchQuery:
    """``max_chars`` / ``max_terms``: the largest query text an analyst may type (the command
    passes ADWATCH_SEARCH_MAX_CHARS / ADWATCH_SEARCH_MAX_TERMS; None: no cap, for fixed queries)."""
    from nlp.phones import normalize_phone

    check_query(text, max_chars=max_chars, max_terms=max_terms)

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
        since=moment("--since", since) if since else None,
        until=moment("--until", until) if until else None,
        sources=list(sources or []),
        sort=sort,  # type: ignore[arg-type]
        limit=limit,
        offset=offset,
    )
