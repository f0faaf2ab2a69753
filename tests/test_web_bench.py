"""The web benchmark's query mix: every search it sends is one the web layer accepts (a 400 would
measure the error page, not a search), and the mix covers the web's search parameters."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qsl

from starlette.datastructures import QueryParams

from adwatch.web.params import Context, parse_search
from bench.index_bench import synthetic_ads
from bench.web_bench import _TIMING, queries
from config.source_schema import load_sources


def _context() -> Context:
    from config.settings import ADWATCH_SOURCES_DIR

    sources, _problems = load_sources(ADWATCH_SOURCES_DIR)
    return Context(region="SE", source_kinds={name: s.kind for name, s in sources.items()})


def test_every_query_of_the_mix_parses_and_the_mix_covers_the_parameters() -> None:
    mix = queries(synthetic_ads(2_000, "SE"), 400)
    context = _context()
    names: set[str] = set()
    for _kind, query in mix:
        parsed = parse_search(cast(Any, QueryParams(query)), context)
        assert not parsed.matches_nothing, query
        names.update(name for name, _value in parse_qsl(query))
    assert {"q", "town", "county", "road", "road_km", "cat", "min_score", "since", "sort", "page", "phone",
            "near", "source"} <= names
    assert len({query for _kind, query in mix}) > 300  # varied, not the same few searches again


def test_the_mix_is_the_same_in_every_run() -> None:
    ads = synthetic_ads(500, "SE")
    assert queries(ads, 50) == queries(ads, 50)


def test_server_timing_is_read_from_the_header_the_server_sends() -> None:
    found = _TIMING.search("app;dur=12.34")
    assert found is not None and float(found.group(1)) == 12.34
    assert _TIMING.search("db;dur=5") is None
