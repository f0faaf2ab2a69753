"""The shared query model (``SearchQuery``) → Elasticsearch query DSL.

Text terms match the folded word fields (``es_schema.search_words``), so a query matches
the same ads it matches in the SQLite store; with a language analyzer configured (e.g.
``swedish`` on a full cluster) a term may also match the analysed ``title``/``text``.
"""

from __future__ import annotations

from typing import Any

from adwatch.core.clock import iso
from index.es_schema import search_words
from index.fts import Term, parse_terms, searchable_terms
from index.query import SearchQuery
from index.query_lists import values

FACET_LIMIT = 25
_TITLE_BOOST = 5.0  # as the SQLite store's bm25 column weights


def _term_query(term: Term, analyzer: str) -> dict[str, Any] | None:
    words = search_words(term.text)
    if not words:
        return None
    options: list[dict[str, Any]] = []
    for field, boost in (("body_words", 1.0), ("title_words", _TITLE_BOOST)):
        if term.prefix and " " not in words:
            options.append({"prefix": {field: {"value": words, "boost": boost}}})
        elif term.prefix:
            options.append({"match_phrase_prefix": {field: {"query": words, "max_expansions": 200,
                                                            "boost": boost}}})
        else:
            options.append({"match_phrase": {field: {"query": words, "boost": boost}}})
    if analyzer != "standard" and not term.prefix:
        options += [{"match_phrase": {"text": term.text}}, {"match_phrase": {"title": term.text}}]
    return {"bool": {"should": options, "minimum_should_match": 1}}


def text_clauses(text: str, analyzer: str = "standard") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(must, must_not) clauses for the analyst's text; QueryError for text with nothing to search
    (as the SQLite store's ``to_fts``: never every ad for a query that parsed to nothing)."""
    parsed = searchable_terms(text)
    must: list[dict[str, Any]] = []
    for group in parsed.groups:
        # A term without searchable words ("_") matches no ad, as in FTS5.
        options = [q for q in (_term_query(t, analyzer) for t in group) if q is not None] or [{"match_none": {}}]
        must.append(options[0] if len(options) == 1 else {"bool": {"should": options, "minimum_should_match": 1}})
    must_not = [q for q in (_term_query(t, analyzer) for t in parsed.negatives) if q is not None]
    return must, must_not


def filters(query: SearchQuery) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if query.ids:
        out.append({"terms": {"id": values("ids", query.ids)}})
    if query.phone:
        out.append({"term": {"phones": query.phone}})
    # Each list as ``values`` gives it to the SQLite store too: the same cap, the same matches.
    for name, field, given in (("towns", "town_names", query.towns), ("primary towns", "town", query.primary_towns),
                               ("counties", "county", query.counties), ("languages", "language", query.languages),
                               ("sources", "source", query.sources), ("categories", "categories", query.categories)):
        if given:
            out.append({"terms": {field: values(name, given)}})
    if query.min_score is not None:
        out.append({"range": {"indicator_score": {"gte": query.min_score}}})
    if query.near is not None:
        out.append({"geo_distance": {"distance": f"{query.near.km}km",
                                     "geo": {"lat": query.near.lat, "lon": query.near.lon}}})
    dates: dict[str, str] = {}
    if query.since:
        dates["gte"] = iso(query.since)
    if query.until:
        dates["lt"] = iso(query.until)
    if dates:
        out.append({"range": {"seen_date": dates}})
    return out


def to_dsl(query: SearchQuery, analyzer: str = "standard") -> dict[str, Any]:
    must, must_not = text_clauses(query.text, analyzer)
    bool_query: dict[str, Any] = {"filter": filters(query)}
    if must:
        bool_query["must"] = must
    if must_not:
        bool_query["must_not"] = must_not
    return {"bool": bool_query}


def sort_clause(query: SearchQuery) -> list[Any]:
    sort = query.effective_sort
    newest = [{"seen_date": {"order": "desc", "missing": "_last"}}, {"id": "asc"}]
    if sort == "relevance" and parse_terms(query.text).groups:
        return ["_score", *newest]
    if sort == "score":
        return [{"indicator_score": "desc"}, *newest]
    return newest


def facet_aggs() -> dict[str, Any]:
    order = [{"_count": "desc"}, {"_key": "asc"}]
    return {"town": {"terms": {"field": "town_names", "size": FACET_LIMIT, "order": order}},
            "source": {"terms": {"field": "source", "size": 1000, "order": order}},
            # The primary county and language: the fields the county and language filters match.
            **{name: {"terms": {"field": field, "size": FACET_LIMIT, "order": order}}
               for name, field in (("county", "county"), ("language", "language"), ("category", "categories"))}}
