"""Issue 12, item 16: search never answers misleadingly.

An unknown town is an error (with near matches), not 0 hits; text that parses to nothing
is an error on both stores, not every ad; the query's length and term count are capped
(ADWATCH_SEARCH_MAX_CHARS / _TERMS); a query that starts with a minus goes after ``--``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from index.fts import QueryError, check_query
from index.query import SearchQuery
from index.sqlite import SqliteStore
from tests.conftest import run_adwatch, run_json
from tests.test_store_conformance import ad, town

NOTHING = ['"', "*", "-", "((((", "OR", '-"', '" * ( ) -']


@pytest.fixture
def indexed(home: Path) -> Path:
    store = SqliteStore(home / "adwatch.db")
    store.write_ads([ad(1, title="Massage", text="avslappning", town="Gävle", towns=[town("Gävle")]),
                     ad(2, title="Ny i stan", text="ring mig", town="Sandviken", towns=[town("Sandviken")])])
    store.close()
    return home


def _one_error_line(result: Any, code: int = 2) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return str(lines[0])


@pytest.mark.parametrize("args", [("search", "--town", "garbage"), ("search", "x", "--town", "Gävle", "--town", "Qwzx"),
                                  ("trends", "--town", "garbage"), ("trends", "--by", "county", "--town", "garbage")])
def test_an_unknown_town_is_said_not_zero_hits(indexed: Path, args: tuple[str, ...]) -> None:
    line = _one_error_line(run_adwatch(*args, home=indexed))
    assert "--town" in line and "is not a" in line and "SE gazetteer" in line


def test_an_unknown_town_gets_near_matches(indexed: Path) -> None:
    line = _one_error_line(run_adwatch("search", "--town", "Gavel", home=indexed))
    assert "did you mean 'Gävle'" in line
    county = _one_error_line(run_adwatch("trends", "--by", "county", "--town", "Gävleborg län", home=indexed))
    assert "did you mean 'Gävleborgs län'" in county


def test_known_towns_and_counties_still_answer(indexed: Path) -> None:
    assert [h["id"] for h in run_json("search", "--town", "gavle", home=indexed)["hits"]] == ["s:1"]
    result = run_adwatch("trends", "--by", "county", "--town", "gävleborgs län", "--format", "json",
                         "--since", "2026-11-01", home=indexed, check=True)
    assert json.loads(result.stdout)["by"] == "county" and result.stderr == ""


@pytest.mark.parametrize("text", NOTHING)
def test_a_query_with_no_words_is_refused_not_every_ad(indexed: Path, text: str) -> None:
    line = _one_error_line(run_adwatch("search", "--", text, home=indexed))
    assert "has no words to search" in line


def test_no_query_still_lists_every_ad(indexed: Path) -> None:
    assert run_json("search", home=indexed)["total"] == 2
    only = run_adwatch("search", "--json", "--", "-massage", home=indexed, check=True)
    assert json.loads(only.stdout)["total"] == 1  # an exclusion alone is a real query


@pytest.mark.parametrize("text", NOTHING)
def test_the_sqlite_store_refuses_a_query_with_no_words(store: SqliteStore, text: str) -> None:
    store.write_ads([ad(1)])
    with pytest.raises(QueryError, match="no words"):
        store.search(SearchQuery(text=text))
    assert store.search(SearchQuery(text="")).total == 1


def test_a_long_query_is_refused_at_once(indexed: Path) -> None:
    huge = "massage " * 12_800  # ~100 KB: took 30 s and ~480 MB before the cap
    line = _one_error_line(run_adwatch("search", huge, home=indexed))
    assert f"{len(huge):,} characters long; at most 1,000" in line and "ADWATCH_SEARCH_MAX_CHARS" in line


def test_too_many_terms_are_refused(indexed: Path) -> None:
    many = " ".join(f"w{n}" for n in range(65))
    line = _one_error_line(run_adwatch("search", many, home=indexed))
    assert "65 terms; at most 64" in line and "ADWATCH_SEARCH_MAX_TERMS" in line
    assert run_json("search", " OR ".join(["massage"] * 64), home=indexed)["total"] == 1  # 64 is allowed


def test_check_query_limits_are_parameters() -> None:
    assert check_query("a b c", max_chars=5, max_terms=3).groups
    with pytest.raises(QueryError, match="6 characters long"):
        check_query("a b cd", max_chars=5)
    with pytest.raises(QueryError, match="3 terms; at most 2"):
        check_query("a -b c", max_terms=2)


def test_a_query_starting_with_a_minus_goes_after_double_dash(indexed: Path) -> None:
    """Decision: `--` (the POSIX end of options), documented in the help and README, rather
    than reading unknown options as query text: that would turn every mistyped option
    (`--tonw Gävle`) into a silent exclusion query, a misleading answer of its own."""
    assert run_adwatch("search", "-massage", home=indexed).returncode == 2
    found = json.loads(run_adwatch("search", "--json", "--", "-massage", home=indexed, check=True).stdout)
    assert [h["id"] for h in found["hits"]] == ["s:2"]
    shown = run_adwatch("search", "--help", home=indexed, check=True).stdout
    assert "search -- -massage" in " ".join(shown.replace("│", " ").split())


def es_env(url: str, prefix: str) -> dict[str, str]:
    return {"ADWATCH_STORE": f"elasticsearch+{url}", "ADWATCH_ES_PREFIX": prefix}


@pytest.mark.parametrize("text", NOTHING)
def test_the_elasticsearch_store_refuses_a_query_with_no_words(es_url: str, es_prefix: str, text: str) -> None:
    from index.elastic import ElasticStore

    store = ElasticStore(es_url, prefix=es_prefix)
    try:
        store.write_ads([ad(1), ad(2)])
        store.refresh()
        with pytest.raises(QueryError, match="no words"):
            store.search(SearchQuery(text=text))
        assert store.search(SearchQuery(text="")).total == 2
        assert store.search(SearchQuery(text="massage")).total == 2
    finally:
        store.close()


def test_elasticsearch_through_the_cli(es_url: str, es_prefix: str, home: Path) -> None:
    from index.elastic import ElasticStore

    store = ElasticStore(es_url, prefix=es_prefix)
    store.write_ads([ad(1)])
    store.refresh()
    store.close()
    env = es_env(es_url, es_prefix)
    assert "has no words" in _one_error_line(run_adwatch("search", "--", "((((", home=home, env=env))
    assert "not a town" in _one_error_line(run_adwatch("search", "--town", "garbage", home=home, env=env))
    # Past Elasticsearch's result window: one line and exit 2 (was a traceback).
    assert "--offset" in _one_error_line(run_adwatch("search", "--offset", "99999", home=home, env=env))
    assert run_json("search", home=home, env=env)["total"] == 1


def test_no_hits_for_an_undeclared_source_says_so(indexed: Path) -> None:
    """Not an error (a removed source's ads stay searchable), but never a silent 0 either."""
    result = run_adwatch("search", "--source", "nosuch", "--json", home=indexed, check=True)
    assert json.loads(result.stdout)["total"] == 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no source file declares 'nosuch'" in lines[0] and "nightlist" in lines[0]
