"""The web UI's search filters and facets (issue 14), on both stores with the same answers.

Filters: ``counties`` (the ad's primary county), ``primary_towns`` (its primary town),
``languages`` and ``ids``; facets: ``town``, ``source``, ``county``, ``language`` and
``category``, counted and ordered (count descending, key ascending) alike by SQLite and
Elasticsearch. Every expected facet is counted here in plain Python from the corpus itself.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from index.elastic import ElasticStore
from index.fts import QueryError
from index.query import SearchQuery
from index.query_lists import MAX_VALUES
from index.sqlite import SqliteStore
from index.store import Store
from tests.conftest import Factory

# name → county: the primary town of an ad, and its other named towns.
COUNTY = {"Gävle": "Gävleborgs län", "Sandviken": "Gävleborgs län", "Hudiksvall": "Gävleborgs län",
          "Malmö": "Skåne län", "Lund": "Skåne län", "Örebro": "Örebro län", "Åre": "Jämtlands län"}
CATEGORIES = ("movement", "youth", "third_party", "hotel", "availability")
HOSTILE = ["'", '"', "' OR '1'='1", "x'); DROP TABLE ads; --", "%", "_", "*", "\\", "", " ", "\x00",
           "Gävle' --", "a" * 5000, "ö" * 300, "NULL", "null", "1 = 1", "[]", "{}", "$.town"]


def make_ad(n: int, town: str | None, *, language: str | None = "sv", categories: tuple[str, ...] = (),
            also: tuple[str, ...] = (), source: str = "s", text: str = "massage i stan",
            county_of: dict[str, str] = COUNTY) -> dict[str, Any]:
    towns = [town, *also] if town else list(also)
    return {
        "id": f"s:{n}", "source": source, "url": f"http://x/ad/{n}", "title": f"Ad {n}", "text": text,
        "posted_at": f"2026-11-{10 + n % 15:02d}T12:00:00Z", "first_seen_at": "2026-11-20T00:00:00Z",
        "last_seen_at": "2026-11-20T00:00:00Z", "phones": [], "content_hash": f"h{n}", "version": 1,
        "towns": [{"name": t, "county": county_of[t], "lat": 60.0, "lon": 17.0, "found_in": "text"} for t in towns],
        "town": town, "county": county_of[town] if town else None, "lat": 60.0 if town else None,
        "lon": 17.0 if town else None, "language": language,
        "indicators": [{"category": c, "phrase": c, "start": 0, "end": 1, "rule": f"t.{c}", "weight": 1.0}
                       for c in categories] + [{"category": c, "phrase": c + "!", "start": 2, "end": 3,
                                                "rule": f"t.{c}2", "weight": 1.0} for c in categories[:1]],
        "indicator_score": float(len(categories)),
    }


def corpus() -> list[dict[str, Any]]:
    """24 ads: ties in every facet, an ad without town or language, several towns per ad."""
    ads = []
    towns = ["Gävle", "Gävle", "Sandviken", "Malmö", "Lund", "Örebro", "Gävle", "Hudiksvall"]
    for n in range(24):
        town = None if n == 23 else towns[n % len(towns)]
        language = None if n == 22 else ("en" if n % 5 == 0 else ("pl" if n % 7 == 0 else "sv"))
        categories = tuple(CATEGORIES[(n + k) % len(CATEGORIES)] for k in range(n % 3))
        also = ("Åre",) if n % 6 == 0 else ()
        text = "massage i stan" if n % 8 else "helt annan text"
        ads.append(make_ad(n, town, language=language, categories=categories, also=also,
                           source="s" if n % 3 else "t", text=text))
    return ads


ADS = corpus()


@pytest.fixture
def loaded(store_factory: Factory) -> Store:
    store = store_factory()
    store.write_ads(ADS)
    store.refresh()
    return store


def ids(store: Store, **query: Any) -> list[str]:
    store.refresh()
    return sorted(h["id"] for h in store.search(SearchQuery(limit=100, facets=False, **query)).hits)


def expected_ids(keep: Callable[[dict[str, Any]], bool]) -> list[str]:
    return sorted(ad["id"] for ad in ADS if keep(ad))


def ranked(counts: Counter[str], limit: int | None = 25) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def expected_facets(ads: list[dict[str, Any]]) -> dict[str, list[tuple[str, int]]]:
    """What every store must answer, counted from the ads themselves."""
    return {
        "town": ranked(Counter(t for ad in ads for t in {x["name"] for x in ad["towns"]})),
        "source": ranked(Counter(ad["source"] for ad in ads), None),
        "county": ranked(Counter(ad["county"] for ad in ads if ad["county"])),
        "language": ranked(Counter(ad["language"] for ad in ads if ad["language"])),
        "category": ranked(Counter(c for ad in ads for c in {i["category"] for i in ad["indicators"]})),
    }


def facets(store: Store, **query: Any) -> dict[str, list[tuple[str, int]]]:
    result = store.search(SearchQuery(limit=5, facets=True, **query))
    return {name: list(values.items()) for name, values in result.facets.items()}


class TestFilters:
    def test_counties(self, loaded: Store) -> None:
        assert ids(loaded, counties=["Skåne län"]) == expected_ids(lambda a: a["county"] == "Skåne län")
        both = ["Skåne län", "Örebro län"]
        assert ids(loaded, counties=both) == expected_ids(lambda a: a["county"] in both)
        # The primary county only: Åre is named by some ads, never their primary town.
        assert ids(loaded, counties=["Jämtlands län"]) == []

    def test_primary_towns(self, loaded: Store) -> None:
        assert ids(loaded, primary_towns=["Gävle"]) == expected_ids(lambda a: a["town"] == "Gävle")
        assert ids(loaded, primary_towns=["Åre"]) == []  # named in ads, primary in none
        assert ids(loaded, towns=["Åre"]) == expected_ids(lambda a: "Åre" in {t["name"] for t in a["towns"]})
        corridor = ["Gävle", "Sandviken", "Hudiksvall", "Uppsala"]
        assert ids(loaded, primary_towns=corridor) == expected_ids(lambda a: a["town"] in corridor)

    def test_languages(self, loaded: Store) -> None:
        assert ids(loaded, languages=["en"]) == expected_ids(lambda a: a["language"] == "en")
        assert ids(loaded, languages=["en", "pl"]) == expected_ids(lambda a: a["language"] in ("en", "pl"))
        assert ids(loaded, languages=["de"]) == []

    def test_ids(self, loaded: Store) -> None:
        assert ids(loaded, ids=["s:3", "s:5", "s:3", "nope"]) == ["s:3", "s:5"]
        assert ids(loaded, ids=["s:3"], languages=["en"]) == []
        assert ids(loaded, ids=["s:5"], languages=["en"]) == ["s:5"]

    def test_combined(self, loaded: Store) -> None:
        assert ids(loaded, text="massage", counties=["Gävleborgs län"], languages=["sv"]) == expected_ids(
            lambda a: "massage" in a["text"] and a["county"] == "Gävleborgs län" and a["language"] == "sv")
        assert ids(loaded, primary_towns=["Gävle", "Malmö"], categories=["hotel"], sources=["s"]) == expected_ids(
            lambda a: a["town"] in ("Gävle", "Malmö") and a["source"] == "s"
            and "hotel" in {i["category"] for i in a["indicators"]})
        wanted = [f"s:{n}" for n in range(0, 24, 2)]
        assert ids(loaded, ids=wanted, counties=["Gävleborgs län", "Skåne län"], towns=["Åre"]) == expected_ids(
            lambda a: a["id"] in wanted and a["county"] in ("Gävleborgs län", "Skåne län")
            and "Åre" in {t["name"] for t in a["towns"]})

    def test_two_thousand_ids(self, loaded: Store) -> None:
        wanted = [f"s:{n}" for n in range(0, 24, 3)] + [f"gone:{n}" for n in range(2000)]
        assert ids(loaded, ids=wanted) == sorted(f"s:{n}" for n in range(0, 24, 3))
        result = loaded.search(SearchQuery(ids=wanted, limit=2, facets=True, sort="newest"))
        assert result.total == 8
        assert [(k, v) for k, v in result.facets["source"].items()] == [("t", 8)]

    def test_the_id_cap(self, loaded: Store) -> None:
        at_cap = [f"s:{n}" for n in range(24)] + [f"x{n}" for n in range(MAX_VALUES - 24)]
        assert ids(loaded, ids=at_cap) == expected_ids(lambda a: True)
        with pytest.raises(QueryError, match="at most 10,000"):
            loaded.search(SearchQuery(ids=at_cap + ["one more"]))
        with pytest.raises(QueryError):
            loaded.search(SearchQuery(counties=[str(n) for n in range(MAX_VALUES + 1)]))

    def test_hostile_values_match_nothing_and_break_nothing(self, loaded: Store) -> None:
        for field in ("ids", "counties", "primary_towns", "languages", "towns", "sources", "categories"):
            assert ids(loaded, **{field: HOSTILE}) == [], field
            assert ids(loaded, **{field: [""]}) == [], field
            # A hostile value beside a real one: the real one still matches.
            real = {"ids": "s:1", "counties": "Skåne län", "primary_towns": "Malmö", "languages": "en",
                    "towns": "Åre", "sources": "t", "categories": "hotel"}[field]
            assert ids(loaded, **{field: [*HOSTILE, real]}) == ids(loaded, **{field: [real]}) != [], field
        # Past the inline limit, as one JSON parameter (SQLite's json_each).
        many = [f"{h}{n}" for n in range(10) for h in HOSTILE]
        for field in ("ids", "counties", "primary_towns", "languages", "towns", "sources", "categories"):
            assert ids(loaded, **{field: many}) == [], field
        assert ids(loaded, counties=[*many, "Skåne län"]) == ids(loaded, counties=["Skåne län"]) != []
        assert ids(loaded) == expected_ids(lambda a: True)  # the table is still there

    def test_a_single_string_is_one_value(self, loaded: Store) -> None:
        """A hand-written saved search with "counties": "Skåne län" means that county, not its letters."""
        query = SearchQuery.from_dict({"counties": "Skåne län", "limit": 100, "facets": False})
        assert sorted(h["id"] for h in loaded.search(query).hits) == expected_ids(
            lambda a: a["county"] == "Skåne län")

    def test_no_new_fields_no_change(self, loaded: Store) -> None:
        assert ids(loaded) == expected_ids(lambda a: True)
        assert ids(loaded, counties=[], primary_towns=[], languages=[], ids=[]) == expected_ids(lambda a: True)


class TestFacets:
    @pytest.mark.parametrize("query", [
        {},  # every ad: SQLite reads the facets from its indexes
        {"text": "massage"},  # 21 of 24 hits: SQLite subtracts the few misses
        {"languages": ["sv"]},
        {"sources": ["t"]},  # a few hits: SQLite counts them
        {"counties": ["Gävleborgs län"], "categories": ["hotel", "youth"]},
        {"ids": [f"s:{n}" for n in range(0, 24, 2)], "text": "-helt"},
        {"primary_towns": ["Nowhere"]},
    ], ids=["all", "most", "language", "source", "county+category", "ids", "none"])
    def test_facets_count_and_order(self, loaded: Store, query: dict[str, Any]) -> None:
        result = loaded.search(SearchQuery(limit=100, facets=True, **query))
        matched = [ad for ad in ADS if ad["id"] in {h["id"] for h in result.hits}]
        assert len(matched) == result.total
        assert facets(loaded, **query) == expected_facets(matched)

    def test_facets_off(self, loaded: Store) -> None:
        assert loaded.search(SearchQuery(facets=False)).facets == {}
        assert loaded.search(SearchQuery(facets=False, languages=["sv"])).facets == {}

    def test_ties_by_key_and_the_limit(self, store_factory: Factory) -> None:
        """30 counties' worth of towns, one ad each: the first 25 keys in code-point order."""
        store = store_factory()
        many = {f"Stad {chr(0x41 + n) if n < 26 else 'Ö' + str(n)}": f"Län {n:02d}" for n in range(30)}
        ads = [make_ad(100 + n, town, language=f"l{n % 27}", county_of=many) for n, town in enumerate(many)]
        store.write_ads(ads)
        store.refresh()
        got = facets(store)
        assert got == expected_facets(ads)
        assert len(got["town"]) == len(got["county"]) == len(got["language"]) == 25
        assert got["language"][:3] == [("l0", 2), ("l1", 2), ("l2", 2)]


def test_both_stores_give_the_same_facets(tmp_path: Path, es_url: str, es_prefix: str) -> None:
    """The same data in both stores: equal facets, totals and hits for the new filters."""
    sqlite_store = SqliteStore(tmp_path / "t.db")
    elastic = ElasticStore(es_url, prefix=es_prefix)
    try:
        for store in (sqlite_store, elastic):
            store.write_ads(ADS)
            store.refresh()
        for query in ({}, {"text": "massage"}, {"counties": ["Skåne län", "Örebro län"]},
                      {"primary_towns": ["Gävle"], "languages": ["sv", "en"]}, {"ids": ["s:1", "s:2", "s:9"]},
                      {"categories": ["movement"], "text": "stan"}):
            answers = [s.search(SearchQuery(limit=100, **query)) for s in (sqlite_store, elastic)]
            assert answers[0].total == answers[1].total, query
            assert [h["id"] for h in answers[0].hits] == [h["id"] for h in answers[1].hits], query
            assert ({k: list(v.items()) for k, v in answers[0].facets.items()}
                    == {k: list(v.items()) for k, v in answers[1].facets.items()}), query
    finally:
        sqlite_store.close()
        elastic.close()


class TestSqliteIndexes:
    def test_filters_use_an_index(self, tmp_path: Path) -> None:
        store = SqliteStore(tmp_path / "t.db")
        try:
            for query, index in ((SearchQuery(counties=["Skåne län"]), "ads_county"),
                                 (SearchQuery(languages=["en"]), "ads_language"),
                                 (SearchQuery(primary_towns=["Gävle"]), "ads_town"),
                                 (SearchQuery(ids=["s:1"]), "sqlite_autoindex_ads_1"),
                                 (SearchQuery(ids=[f"s:{n}" for n in range(500)]), "sqlite_autoindex_ads_1")):
                joins, where, params = store._where(query)
                plan = " ".join(row[3] for row in store.db.execute(
                    f"EXPLAIN QUERY PLAN SELECT a.id {joins} WHERE {where}", params))
                assert index in plan, (query, plan)
        finally:
            store.close()

    def test_an_existing_database_gets_the_indexes(self, tmp_path: Path) -> None:
        """A file from before the filters (schema v8: no county or language index) upgrades on open."""
        path = tmp_path / "t.db"
        store = SqliteStore(path)
        store.write_ads(ADS)
        store.close()
        db = sqlite3.connect(path)
        db.executescript("DROP INDEX ads_county; DROP INDEX ads_language; DROP INDEX ad_towns_ad; "
                         "CREATE INDEX ad_towns_ad ON ad_towns(ad_id); DROP INDEX ad_categories_ad; "
                         "CREATE INDEX ad_categories_ad ON ad_categories(ad_id); PRAGMA user_version = 8;")
        db.close()
        store = SqliteStore(path)
        try:
            names = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
            assert {"ads_county", "ads_language"} <= names
            for index, column in (("ad_towns_ad", "town"), ("ad_categories_ad", "category")):
                # Covering: the facets read the value from the index, not the table.
                assert [row[2] for row in store.db.execute(f"PRAGMA index_info({index})")] == ["ad_id", column]
            assert facets(store) == expected_facets(ADS)
            assert ids(store, counties=["Skåne län"]) == expected_ids(lambda a: a["county"] == "Skåne län")
        finally:
            store.close()
