"""Search parameters from a URL (the search page, its export, the search API and saved
searches all read the same names) → the stores' ``SearchQuery``.

Every value comes from whoever sent the request: lengths and counts are capped, numbers
must be finite and in range, towns and counties must be in the gazetteer, and anything else
is a ``BadParameter`` naming the parameter — a 400, never a 500.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from starlette.datastructures import ImmutableMultiDict

from index.fts import QueryError, check_query
from index.query import Near, SearchQuery

Params = ImmutableMultiDict  # a URL's query (or the fields of a form): names with one or more values

SOURCE_KINDS = ("html", "browser", "feed")  # config/source_schema.py's Source.kind
MAX_VALUES = 50  # values of one list parameter (towns, sources, …)
MAX_VALUE_CHARS = 200
PER_PAGE = (10, 20, 50, 100)
MAX_OFFSET = 10_000  # deeper paging: narrow the search or export it
LIST_PARAMS = ("town", "county", "source", "kind", "lang", "cat")
SCALAR_PARAMS = ("q", "phone", "near", "km", "road", "road_km", "since", "until", "min_score", "sort", "page",
                 "per_page")


class BadParameter(ValueError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass
class Context:
    """What parsing needs besides the request: the country, the sources' kinds, the roads."""

    region: str
    source_kinds: dict[str, str]
    highways: str | None = None
    max_chars: int = 1_000
    max_terms: int = 64


@dataclass
class ParsedSearch:
    query: SearchQuery
    form: dict[str, Any]  # the values as given, to fill the form again
    page: int = 1
    per_page: int = 20
    matches_nothing: bool = False  # e.g. no town lies within the road corridor asked for
    notes: list[str] = field(default_factory=list)


def _values(params: Params, name: str) -> list[str]:
    out: list[str] = []
    for raw in params.getlist(name):
        for part in str(raw).split(","):
            part = part.strip()
            if part:
                if len(part) > MAX_VALUE_CHARS:
                    raise BadParameter(name, f"a value is longer than {MAX_VALUE_CHARS} characters")
                out.append(part)
    if len(out) > MAX_VALUES:
        raise BadParameter(name, f"{len(out)} values; at most {MAX_VALUES}")
    return list(dict.fromkeys(out))


def _one(params: Params, name: str) -> str:
    value = params.get(name)
    value = "" if value is None else str(value).strip()
    if len(value) > (10_000 if name == "q" else MAX_VALUE_CHARS):
        raise BadParameter(name, "too long")
    return value


def _number(name: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise BadParameter(name, f"{value!r} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise BadParameter(name, f"{value!r} is out of range: give a number from {low:g} to {high:g}")
    return number


def _whole(name: str, value: str, low: int, high: int) -> int:
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise BadParameter(name, f"{value!r} is not a whole number from {low} to {high}")
    return int(value)


def _town(name: str, value: str, region: str) -> str:
    from adwatch.lookup import canonical_town

    try:
        return canonical_town(value, region, option=name)
    except ValueError as exc:
        raise BadParameter(name, str(exc).split(": ", 1)[-1]) from None


def _county(name: str, value: str, region: str) -> str:
    from adwatch.lookup import canonical_county

    try:
        return canonical_county(value, region, option=name)
    except ValueError as exc:
        raise BadParameter(name, str(exc).split(": ", 1)[-1]) from None


def _moment(name: str, value: str) -> Any:
    from adwatch.lookup import moment

    try:
        return moment(name, value)
    except ValueError as exc:
        raise BadParameter(name, str(exc).split(": ", 1)[-1]) from None


@lru_cache(maxsize=1)
def _categories() -> tuple[str, ...]:
    from nlp.indicators import CATEGORIES

    return tuple(CATEGORIES)


def _near(ctx: Context, value: str, km: float) -> Near:
    from adwatch.lookup import parse_near

    try:
        return parse_near(value, km, ctx.region)
    except ValueError as exc:
        raise BadParameter("near", str(exc).split(": ", 1)[-1]) from None


def _corridor(ctx: Context, road: str, km: float) -> list[str]:
    from geo.corridor import towns_near_road
    from geo.highways import roads

    known = roads(ctx.highways)
    match = next((name for name in known if name.casefold() == road.casefold()), None)
    if match is None:
        raise BadParameter("road", f"{road!r} is not a known road (one of {', '.join(sorted(known)[:30])})")
    return list(towns_near_road(ctx.region, match, km, ctx.highways))


def parse_search(params: Params, ctx: Context, *, paged: bool = True) -> ParsedSearch:
    """The search a request asks for; BadParameter for the first value that cannot be used."""
    form: dict[str, Any] = {name: _one(params, name) for name in SCALAR_PARAMS}
    form.update({name: _values(params, name) for name in LIST_PARAMS})
    text = form["q"]
    try:
        check_query(text, max_chars=ctx.max_chars, max_terms=ctx.max_terms)
    except QueryError as exc:
        raise BadParameter("q", str(exc)) from None
    phone = None
    if form["phone"]:
        from nlp.phones import normalize_phone

        phone = normalize_phone(form["phone"], ctx.region)
        if phone is None:
            raise BadParameter("phone", f"{form['phone']!r} is not a valid phone number")
    sources = list(form["source"])
    unknown = [s for s in sources if s not in ctx.source_kinds]
    if unknown:
        raise BadParameter("source", f"unknown source {unknown[0]!r}")
    if form["kind"]:
        kinds = set(SOURCE_KINDS)
        bad = [k for k in form["kind"] if k not in kinds]
        if bad:
            raise BadParameter("kind", f"unknown source kind {bad[0]!r} (one of {', '.join(sorted(kinds))})")
        of_kind = [name for name, kind in ctx.source_kinds.items() if kind in form["kind"]]
        sources = [s for s in sources if s in of_kind] if sources else of_kind
    bad_categories = [c for c in form["cat"] if c not in _categories()]
    if bad_categories:
        raise BadParameter("cat", f"unknown indicator category {bad_categories[0]!r}")
    for lang in form["lang"]:
        if not (2 <= len(lang) <= 8 and lang.replace("-", "").isalpha()):
            raise BadParameter("lang", f"{lang!r} is not a language code")
    sort = form["sort"] or None
    if sort not in (None, "relevance", "newest", "score"):
        raise BadParameter("sort", f"{sort!r} is not one of relevance, newest, score")
    per_page = _whole("per_page", form["per_page"], 1, 100) if form["per_page"] else 20
    page = _whole("page", form["page"], 1, MAX_OFFSET) if form["page"] else 1
    if paged and page * per_page > MAX_OFFSET:
        raise BadParameter("page", f"at most {MAX_OFFSET:,} results can be paged through: narrow the search "
                           "or export it")
    km = _number("km", form["km"], 0, 2_000) if form["km"] else 25.0
    query = SearchQuery(
        text=text, phone=phone,
        towns=[_town("town", t, ctx.region) for t in form["town"]],
        counties=[_county("county", c, ctx.region) for c in form["county"]],
        languages=[lang.lower() for lang in form["lang"]],
        sources=sources,
        near=_near(ctx, form["near"], km) if form["near"] else None,
        categories=list(form["cat"]),
        min_score=_number("min_score", form["min_score"], 0, 1_000) if form["min_score"] else None,
        since=_moment("since", form["since"]) if form["since"] else None,
        until=_moment("until", form["until"]) if form["until"] else None,
        sort=sort,
        limit=per_page, offset=(page - 1) * per_page,
    )
    parsed = ParsedSearch(query=query, form=form, page=page, per_page=per_page)
    if form["kind"] and not sources:
        parsed.matches_nothing = True
    if form["road"]:
        road_km = _number("road_km", form["road_km"], 0, 500) if form["road_km"] else 10.0
        corridor = _corridor(ctx, form["road"], road_km)
        query.primary_towns = corridor
        parsed.matches_nothing = parsed.matches_nothing or not corridor
    return parsed


def query_string(form: dict[str, Any], **changes: Any) -> list[tuple[str, str]]:
    """The form's values as URL parameters (for paging and sort links), with ``changes``."""
    merged = {**form, **changes}
    pairs: list[tuple[str, str]] = []
    for name in (*SCALAR_PARAMS, *LIST_PARAMS):
        value = merged.get(name)
        if isinstance(value, list | tuple):
            pairs.extend((name, str(v)) for v in value)
        elif value not in (None, ""):
            pairs.append((name, str(value)))
    return pairs


def describe(form: dict[str, Any]) -> dict[str, Any]:
    """The parameters worth writing in the audit log: the ones given."""
    return {name: value for name, value in form.items() if value not in ("", [], None)}
