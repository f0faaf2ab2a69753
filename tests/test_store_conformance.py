"""One suite, two stores: the same tests against the SQLite store and a real Elasticsearch.

Organised per part of the Store protocol (``index/store.py``): ads (writes, search, trends),
the phone registry, alerts, crawl runs, admin; a new part gets its own class here.
Relevance ranking may differ between the stores; which ads match, counts, facets,
registry values and orderings by date or score may not.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adwatch.crawl_lock import crawl_lock, lock_path, this_host
from index.elastic import ElasticStore
from index.query import Near, SearchQuery
from index.rules import CRASHED, RunOwner, owner_stats
from index.sqlite import SqliteStore
from index.store import PARTS, Store
from tests.conftest import Factory


@pytest.fixture
def store(store_factory: Factory) -> Store:
    return store_factory()


def ad(n: int, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"s:{n}", "source": "s", "url": f"http://x/ad/{n}", "title": f"Ad {n}", "text": "massage i stan",
        "posted_at": f"2026-11-{10 + n % 10:02d}T12:00:00Z", "first_seen_at": "2026-11-20T00:00:00Z",
        "last_seen_at": "2026-11-20T00:00:00Z", "phones": [], "towns": [], "content_hash": f"h{n}",
        "version": 1,
    }
    return base | over


TOWNS = {"Gävle": (60.6749, 17.1413), "Sandviken": (60.6167, 16.7833), "Malmö": (55.6059, 13.0007)}


def town(name: str) -> dict[str, Any]:
    lat, lon = TOWNS.get(name, (0.0, 0.0))
    return {"name": name, "county": None, "lat": lat, "lon": lon, "found_in": "text"}


def placed(name: str) -> dict[str, Any]:
    """The primary-town fields of an ad in ``name``."""
    lat, lon = TOWNS[name]
    return {"town": name, "lat": lat, "lon": lon}


def ids(store: Store, **query: Any) -> list[str]:
    store.refresh()
    return [h["id"] for h in store.search(SearchQuery(limit=100, **query)).hits]


# --- every part ---------------------------------------------------------------------------------


def _methods(part: type) -> set[str]:
    return {name for name, value in vars(part).items() if callable(value) and not name.startswith("_")}


@pytest.mark.parametrize("backend", [SqliteStore, ElasticStore])
@pytest.mark.parametrize("part", PARTS, ids=lambda part: part.__name__)
def test_each_store_implements_every_part(backend: type, part: type) -> None:
    wanted = _methods(part)
    assert wanted and sorted(name for name in wanted if not callable(getattr(backend, name, None))) == []


def test_the_parts_are_disjoint_and_make_the_store() -> None:
    names = [name for part in PARTS for name in _methods(part)]
    assert len(names) == len(set(names))  # one job each: no method in two parts
    assert all(part in Store.__mro__ for part in PARTS)  # Store is every part


# --- ads: writes, versions, sightings, removals --------------------------------------------------------


class TestAds:
    """AdStore: writes and reads, versions, touch, removals."""

    def test_write_then_read_round_trip(self, store: Store) -> None:
        outcome = store.write_ads([ad(1, phones=["+46701740605"], towns=[town("Gävle")], images=["http://x/1.jpg"],
                                      indicators=[{"category": "movement"}], town="Gävle")])
        assert (outcome.new, outcome.updated) == (1, 0)
        got = store.get_ad("s:1")
        assert got is not None
        assert got["phones"] == ["+46701740605"] and got["towns"][0]["name"] == "Gävle"
        assert got["images"] == ["http://x/1.jpg"] and got["indicators"] == [{"category": "movement"}]
        assert store.get_ad("nope") is None

    def test_update_keeps_first_seen_and_versions(self, store: Store) -> None:
        store.write_ads([ad(1)])
        outcome = store.write_ads([ad(1, title="Changed", content_hash="h2", first_seen_at="2026-11-25T00:00:00Z",
                                      last_seen_at="2026-11-25T00:00:00Z")])
        assert (outcome.new, outcome.updated) == (0, 1)
        got = store.get_ad("s:1")
        assert got is not None
        assert got["first_seen_at"] == "2026-11-20T00:00:00Z"
        assert got["version"] == 2 and got["title"] == "Changed"
        versions = store.ad_versions("s:1")
        assert [(v["version"], v["title"]) for v in versions] == [(1, "Ad 1")]
        assert ids(store, text="changed") == ["s:1"] and ids(store, text='"Ad 1"') == []

    def test_touch_moves_last_seen_only_forward(self, store: Store) -> None:
        store.write_ads([ad(1, phones=["+46701740605"])])
        assert store.touch([("s:1", "2026-11-27T00:00:00Z"), ("missing", "2026-11-27T00:00:00Z")]) == 1
        store.touch([("s:1", "2026-11-21T00:00:00Z")])
        got = store.get_ad("s:1")
        assert got is not None and got["last_seen_at"] == "2026-11-27T00:00:00Z"
        record = store.phone_record("+46701740605")
        assert record is not None and record["last_seen_at"] == "2026-11-27T00:00:00Z"

    def test_a_record_the_store_refuses_is_set_aside_and_the_rest_written(self, store: Store, tmp_path: Path) -> None:
        from scrapy.statscollectors import MemoryStatsCollector
        from scrapy.utils.test import get_crawler

        from index.spool import Spool
        from index.writer import StoreWriter
        from pipelines.store import StorePipeline

        counts = MemoryStatsCollector(get_crawler())
        spool = Spool(tmp_path / "spool")
        pipeline = StorePipeline(StoreWriter(store, spool), counts, batch_size=100)
        for record in (ad(1), ad(2, towns="Gävle"), ad(3)):  # towns must be a list of objects
            pipeline.ads.append(record)
        pipeline.flush()
        store.refresh()
        assert store.get_ad("s:1") is not None and store.get_ad("s:3") is not None
        assert store.get_ad("s:2") is None
        (rejected,) = spool.rejected_folder.glob("*.json")
        assert '"s:2"' in rejected.read_text() and counts.get_value("adwatch/store/rejected") == 1
        assert spool.pending() == []

    def test_ads_missing_from_complete_crawls_are_removed_and_come_back(self, store: Store) -> None:
        store.write_ads([ad(n) for n in range(1, 5)] + [ad(9, source="t")])
        assert store.mark_missing("s", ["s:1", "s:2", "s:3"], "2026-11-21T00:00:00Z", after=2) == 0
        store.refresh()
        assert store.get_ad("s:4")["removed_at"] is None  # type: ignore[index]  # missing once: not yet
        assert store.mark_missing("s", ["s:1", "s:2"], "2026-11-22T00:00:00Z", after=2) == 1
        store.refresh()
        assert store.get_ad("s:4")["removed_at"] == "2026-11-22T00:00:00Z"  # type: ignore[index]
        assert store.get_ad("s:3")["removed_at"] is None  # type: ignore[index]
        assert store.get_ad("s:9")["removed_at"] is None  # type: ignore[index]  # another source: untouched
        assert "s:4" in ids(store, text="massage")  # removed ads stay searchable
        assert store.mark_missing("s", ["s:1", "s:2", "s:4"], "2026-11-23T00:00:00Z", after=2) == 1  # s:3 goes
        store.refresh()
        assert store.get_ad("s:4")["removed_at"] is None  # type: ignore[index]  # listed again: present
        assert store.get_ad("s:3")["removed_at"] == "2026-11-23T00:00:00Z"  # type: ignore[index]


# --- ads: search ----------------------------------------------------------------------------------------


@pytest.fixture
def corpus(store: Store) -> Store:
    store.write_ads([
        ad(1, title="Ny i stan", text="Söt tjej i Gävle, ring 070-174 06 05", phones=["+46701740605"],
           towns=[town("Gävle")], **placed("Gävle"), posted_at="2026-11-01T10:00:00Z", indicator_score=2.5,
           indicators=[{"category": "movement", "phrase": "Ny i stan", "start": 0, "end": 9, "rule": "r1",
                        "weight": 1.0}, {"category": "youth", "phrase": "tjej", "start": 14, "end": 18,
                                         "rule": "r2", "weight": 0.5}]),
        ad(2, title="Massage", text="Thai massage i Sandviken", towns=[town("Sandviken")], **placed("Sandviken"),
           posted_at="2026-11-10T10:00:00Z", source="t", indicator_score=0.5,
           indicators=[{"category": "nationality", "phrase": "Thai", "start": 8, "end": 12, "rule": "r3",
                        "weight": 0.5}]),
        ad(3, title="Massage", text="Avslappnande massage, ny i stan", towns=[town("Gävle"), town("Sandviken")],
           **placed("Malmö"), posted_at="2026-11-20T10:00:00Z", indicator_score=1.0,
           indicators=[{"category": "movement", "phrase": "ny i stan", "start": 20, "end": 29, "rule": "r1",
                        "weight": 1.0}]),
        ad(4, title="Young girl", text="Only SMS. Ny i stan! Ny ny ny", posted_at=None,
           first_seen_at="2026-11-25T00:00:00Z"),
    ])
    return store


class TestAdSearch:
    """AdStore.search: full text, filters, sorting, paging, facets."""

    def test_full_text_words_phrases_or_exclude(self, corpus: Store) -> None:
        assert sorted(ids(corpus, text="massage")) == ["s:2", "s:3"]
        assert sorted(ids(corpus, text='"ny i stan"')) == ["s:1", "s:3", "s:4"]
        assert ids(corpus, text="massage -thai") == ["s:3"]
        assert sorted(ids(corpus, text="thai OR young")) == ["s:2", "s:4"]
        assert sorted(ids(corpus, text="-massage")) == ["s:1", "s:4"]
        assert ids(corpus, text="mass*") != []
        assert ids(corpus, text="gavle") == ["s:1"]  # diacritics folded

    @pytest.mark.parametrize("hostile", ["'; DROP TABLE ads; --", "AND", "NEAR(", 'a" OR "b', "ads_fts MATCH 'x'",
                                         "title:x", "^x", "{x}", "_"])
    def test_hostile_input_is_searched_as_words(self, corpus: Store, hostile: str) -> None:
        corpus.refresh()
        result = corpus.search(SearchQuery(text=hostile))
        # Searched as plain words: nothing in the corpus contains them, and the index is intact.
        assert result.total == 0 and result.hits == []
        assert corpus.summary()["ads"] == 4

    @pytest.mark.parametrize("empty", ['"', "(", ")", "*", "-", "OR", "\\", "%", '""'])
    def test_input_without_words_is_refused_not_everything(self, corpus: Store, empty: str) -> None:
        # Issue 12 item 16: it matched every ad in silence; now it is a QueryError on both stores.
        from index.fts import QueryError

        corpus.refresh()
        with pytest.raises(QueryError, match="no words to search"):
            corpus.search(SearchQuery(text=empty))
        assert corpus.search(SearchQuery(text="  ")).total == 4  # no text at all: every ad

    def test_hostile_words_still_find_what_they_say(self, corpus: Store) -> None:
        assert sorted(ids(corpus, text='"ny i stan" OR (thai')) == ["s:1", "s:2", "s:3", "s:4"]
        assert sorted(ids(corpus, text='"ny i stan" (thai')) == []
        assert ids(corpus, text="sms'; DROP TABLE ads; --") == []  # all words must match
        assert ids(corpus, text='sms" OR "x') == ["s:4"]  # stray quotes do not break OR

    def test_filters_phone_town_source_dates(self, corpus: Store) -> None:
        assert ids(corpus, phone="+46701740605") == ["s:1"]
        assert sorted(ids(corpus, towns=["Sandviken"])) == ["s:2", "s:3"]
        assert ids(corpus, sources=["t"]) == ["s:2"]
        since = datetime(2026, 11, 15, tzinfo=UTC)
        assert sorted(ids(corpus, since=since)) == ["s:3", "s:4"]  # s:4 has no posted date: first seen counts
        assert ids(corpus, since=since, until=datetime(2026, 11, 21, tzinfo=UTC)) == ["s:3"]
        assert ids(corpus, text="massage", towns=["Gävle"]) == ["s:3"]

    def test_filters_near_categories_min_score(self, corpus: Store) -> None:
        gavle = TOWNS["Gävle"]
        assert ids(corpus, near=Near(gavle[0], gavle[1], 5)) == ["s:1"]
        assert sorted(ids(corpus, near=Near(gavle[0], gavle[1], 30))) == ["s:1", "s:2"]  # Sandviken is ~23 km away
        assert sorted(ids(corpus, near=Near(gavle[0], gavle[1], 1000))) == ["s:1", "s:2", "s:3"]  # s:4 has no place
        assert sorted(ids(corpus, categories=["movement"])) == ["s:1", "s:3"]
        assert sorted(ids(corpus, categories=["youth", "nationality"])) == ["s:1", "s:2"]
        assert sorted(ids(corpus, min_score=1.0)) == ["s:1", "s:3"]
        assert ids(corpus, min_score=1.0, categories=["movement"], text="massage") == ["s:3"]
        assert ids(corpus, sort="score") == ["s:1", "s:3", "s:2", "s:4"]

    def test_sorting_paging_and_facets(self, corpus: Store) -> None:
        assert ids(corpus) == ["s:4", "s:3", "s:2", "s:1"]  # newest first without text
        # Relevance: a hit in the title outweighs one in the text.
        assert ids(corpus, text="stan")[0] == "s:1"
        assert ids(corpus, text="ny", sort="newest") == ["s:4", "s:3", "s:1"]
        corpus.refresh()
        page = corpus.search(SearchQuery(limit=2, offset=2))
        assert page.total == 4 and [h["id"] for h in page.hits] == ["s:2", "s:1"]
        facets = corpus.search(SearchQuery(text="massage")).facets
        assert facets["town"] == {"Gävle": 1, "Sandviken": 2}
        assert facets["source"] == {"s": 1, "t": 1}


# --- ads: trends ----------------------------------------------------------------------------------------


@pytest.fixture
def weeks(store: Store) -> Store:
    """Ads over three weeks of November 2026 (Mondays: 2, 9, 16) in three towns."""
    def put(n: int, day: int, name: str, county: str, phone: str, score: float = 0.0, first: int | None = None,
            ) -> dict[str, Any]:
        seen = f"2026-11-{first or day:02d}T09:00:00Z"
        return ad(n, posted_at=f"2026-11-{day:02d}T12:00:00Z", first_seen_at=seen, last_seen_at=seen,
                  town=name, county=county, towns=[town(name)], phones=[phone], indicator_score=score)

    store.write_ads([
        put(1, 2, "Gävle", "Gävleborgs län", "+46701740605", 2.5),
        put(2, 3, "Gävle", "Gävleborgs län", "+46701740606"),
        put(3, 10, "Gävle", "Gävleborgs län", "+46701740605"),
        put(4, 11, "Sandviken", "Gävleborgs län", "+46701740605", 3.0),
        put(5, 16, "Sandviken", "Gävleborgs län", "+46701740607"),
        put(6, 17, "Sandviken", "Gävleborgs län", "+46701740607", first=18),
        put(7, 18, "Malmö", "Skåne län", "+46701740608", 2.0),
        ad(8, posted_at="2026-11-18T12:00:00Z", town=None),  # no town: in no town's series
    ])
    store.refresh()
    return store


class TestTrends:
    """AdStore.trend_counts: counts per period and town or county."""

    @pytest.mark.parametrize(("metric", "by", "interval", "expected"), [
        ("ads", "town", "week", {("2026-11-02", "Gävle"): 2, ("2026-11-09", "Gävle"): 1, ("2026-11-09", "Sandviken"): 1,
                                 ("2026-11-16", "Sandviken"): 2, ("2026-11-16", "Malmö"): 1}),
        ("ads", "county", "month", {("2026-11-01", "Gävleborgs län"): 6, ("2026-11-01", "Skåne län"): 1}),
        ("ads", "town", "day", {("2026-11-02", "Gävle"): 1, ("2026-11-03", "Gävle"): 1, ("2026-11-10", "Gävle"): 1,
                                ("2026-11-11", "Sandviken"): 1, ("2026-11-16", "Sandviken"): 1,
                                ("2026-11-17", "Sandviken"): 1, ("2026-11-18", "Malmö"): 1}),
        ("new_ads", "town", "week", {("2026-11-02", "Gävle"): 2, ("2026-11-09", "Gävle"): 1,
                                     ("2026-11-09", "Sandviken"): 1, ("2026-11-16", "Sandviken"): 2,
                                     ("2026-11-16", "Malmö"): 1}),
        ("phones", "county", "week", {("2026-11-02", "Gävleborgs län"): 2, ("2026-11-09", "Gävleborgs län"): 1,
                                      ("2026-11-16", "Gävleborgs län"): 1, ("2026-11-16", "Skåne län"): 1}),
        ("new_phones", "town", "week", {("2026-11-02", "Gävle"): 2, ("2026-11-16", "Sandviken"): 1,
                                        ("2026-11-16", "Malmö"): 1}),
        ("flagged", "town", "week", {("2026-11-02", "Gävle"): 1, ("2026-11-09", "Sandviken"): 1,
                                     ("2026-11-16", "Malmö"): 1}),
    ])
    def test_trend_counts(self, weeks: Store, metric: str, by: str, interval: str,
                          expected: dict[tuple[str, str], int]) -> None:
        from index.trends import TrendQuery

        assert weeks.trend_counts(TrendQuery(metric=metric, by=by, interval=interval)) == expected  # type: ignore[arg-type]

    def test_trend_filters_and_shape(self, weeks: Store) -> None:
        from index.trends import TrendQuery, shape

        query = TrendQuery(metric="ads", interval="week", since=datetime(2026, 11, 9, tzinfo=UTC),
                           until=datetime(2026, 11, 23, tzinfo=UTC), keys=("Gävle", "Sandviken"))
        counts = weeks.trend_counts(query)
        assert counts == {("2026-11-09", "Gävle"): 1, ("2026-11-09", "Sandviken"): 1, ("2026-11-16", "Sandviken"): 2}
        trend = shape(query, counts)
        assert trend.periods == ["2026-11-09", "2026-11-16"]
        series = {s.key: s for s in trend.series}
        assert series["Sandviken"].values == [1, 2] and series["Sandviken"].change == 1
        assert series["Sandviken"].change_pct == 100.0 and series["Gävle"].values == [1, 0]
        assert [s.key for s in trend.risers] == ["Sandviken"]


# --- phone registry ------------------------------------------------------------------------------------


class TestPhoneRegistry:
    """PhoneRegistry: first sightings (decided once), ads and towns per number."""

    def test_phone_registry_first_seen_and_towns(self, store: Store) -> None:
        store.write_ads([ad(1, phones=["+46701740605"], towns=[town("Gävle")], town="Gävle",
                            first_seen_at="2026-11-01T00:00:00Z", last_seen_at="2026-11-01T00:00:00Z")])
        store.write_ads([ad(2, phones=["+46701740605"], towns=[town("Sandviken")], town="Sandviken",
                            first_seen_at="2026-11-05T00:00:00Z", last_seen_at="2026-11-05T00:00:00Z")])
        record = store.phone_record("+46701740605")
        assert record is not None
        assert record["first_town"] == "Gävle" and record["first_ad"] == "s:1"
        assert record["first_seen_at"] == "2026-11-01T00:00:00Z" and record["last_seen_at"] == "2026-11-05T00:00:00Z"
        assert record["ads_count"] == 2 and record["towns"] == ["Gävle", "Sandviken"]
        assert [a["id"] for a in store.phone_ads("+46701740605")] == ["s:1", "s:2"]
        # The number leaves ad 2: counts follow.
        store.write_ads([ad(2, phones=[], content_hash="h2b")])
        record = store.phone_record("+46701740605")
        assert record is not None and record["ads_count"] == 1 and record["towns"] == ["Gävle"]

    def test_first_seen_is_decided_once_under_concurrent_writers(self, store_factory: Factory) -> None:
        store_factory().refresh()  # the store exists before the writers race
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []
        called_new: list[str] = []  # every number some writer's write reported as new

        def writer(n: int) -> None:
            db = store_factory()
            barrier.wait()
            try:
                for k in range(10):
                    seen = f"2026-11-0{n + 1}T00:00:00Z"
                    outcome = db.write_ads([ad(n * 100 + k, phones=[f"+4670174{605 + k:04d}"], town=f"T{n}",
                                               first_seen_at=seen, last_seen_at=seen)])
                    called_new.extend(outcome.new_phones)
            except BaseException as exc:  # noqa: BLE001  (reported below, in the test's thread)
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        # Exactly one writer was told each number is new (what alerts rely on), however they raced.
        assert sorted(called_new) == [f"+4670174{605 + k:04d}" for k in range(10)]
        db = store_factory()
        for k in range(10):
            record = db.phone_record(f"+4670174{605 + k:04d}")
            assert record is not None and record["ads_count"] == 4
            # Whatever order the writers committed in, the earliest sighting (writer 0's) is "first".
            assert (record["first_seen_at"], record["first_town"], record["first_ad"]) == (
                "2026-11-01T00:00:00Z", "T0", f"s:{k}")
        assert db.summary()["phones"] == 10

    def test_a_number_added_by_an_edit_is_first_seen_at_the_edit(self, store: Store) -> None:
        store.write_ads([ad(1, first_seen_at="2026-01-10T00:00:00Z", last_seen_at="2026-01-10T00:00:00Z")])
        store.write_ads([ad(1, phones=["+46701740605"], content_hash="h-edit", first_seen_at="2026-01-10T00:00:00Z",
                            last_seen_at="2026-03-05T00:00:00Z")])
        record = store.phone_record("+46701740605")
        assert record is not None and record["first_seen_at"] == "2026-03-05T00:00:00Z"

    def test_new_phones_are_the_numbers_a_write_registered(self, store: Store) -> None:
        first = store.write_ads([ad(1, phones=["+46701740601", "+46701740602"]), ad(2, phones=["+46701740602"])])
        assert first.new_phones == {"+46701740601", "+46701740602"}
        again = store.write_ads([ad(1, phones=["+46701740601", "+46701740602"], content_hash="changed"),
                                 ad(3, phones=["+46701740603", "+46701740601"])])
        assert again.new_phones == {"+46701740603"}  # a re-crawl or a known number is never new again
        assert store.write_ads([ad(4)]).new_phones == frozenset()
        # Each new number's first sighting, as the registry keeps it: the earliest, the first ad on ties.
        assert first.first_sightings == {"+46701740601": ("s:1", "2026-11-20T00:00:00Z"),
                                         "+46701740602": ("s:1", "2026-11-20T00:00:00Z")}
        late, early = "2026-11-22T00:00:00Z", "2026-11-21T00:00:00Z"
        third = store.write_ads([ad(5, phones=["+46701740604"], first_seen_at=late, last_seen_at=late),
                                 ad(6, phones=["+46701740604"], first_seen_at=early, last_seen_at=early)])
        assert third.first_sightings == {"+46701740604": ("s:6", early)}
        record = store.phone_record("+46701740604")
        assert record is not None and (record["first_ad"], record["first_seen_at"]) == ("s:6", early)

    def test_registry_and_sightings_since(self, store: Store) -> None:
        store.write_ads([ad(1, phones=["+46701740601"], first_seen_at="2026-11-01T00:00:00Z",
                            last_seen_at="2026-11-02T00:00:00Z"),
                         ad(2, phones=["+46701740602"], first_seen_at="2026-11-10T00:00:00Z",
                            last_seen_at="2026-11-12T00:00:00Z")])
        store.refresh()
        assert [e["e164"] for e in store.phones_first_seen("2026-11-05T00:00:00Z")] == ["+46701740602"]
        assert store.phones_seen("2026-11-05T00:00:00Z") == ["+46701740602"]
        assert store.phones_seen("2026-11-01T00:00:00Z") == ["+46701740601", "+46701740602"]


# --- alerts --------------------------------------------------------------------------------------------


def _alert(n: int, rule: str = "r", created: str = "2026-11-20T10:00:00Z") -> dict[str, Any]:
    from alerts.model import alert_id

    key = f"{rule}|+4670174060{n}||"
    return {"id": alert_id(key), "key": key, "rule": rule, "kind": "new_number_in_town",
            "phone": f"+4670174060{n}", "ad": f"s:{n}", "town": "Gävle", "road": "E4", "km": 0.0,
            "created_at": created, "details": {"towns": [{"town": "Gävle"}]},
            "deliveries": {"log": {"status": "pending", "attempts": 0}}, "acked_at": None, "acked_by": None}


class TestAlerts:
    """AlertStore: once per key, acknowledged, delivered per channel."""

    def test_alerts_are_stored_once_per_key_acked_and_delivered(self, store: Store) -> None:
        added = store.add_alerts([_alert(1), _alert(2, rule="q", created="2026-11-21T10:00:00Z")])
        assert [a["id"] for a in added] == [_alert(1)["id"], _alert(2, rule="q")["id"]]
        # The same alert again (a replay, a second crawl): nothing is added.
        assert store.add_alerts([_alert(1, created="2026-11-22T00:00:00Z")]) == []
        listed = store.alerts()
        assert [a["rule"] for a in listed] == ["q", "r"]  # newest first
        assert listed[1] == _alert(1)  # every field comes back as written
        assert [a["rule"] for a in store.alerts(rule="r")] == ["r"]
        assert [a["rule"] for a in store.alerts(since="2026-11-21T00:00:00Z")] == ["q"]

        one = _alert(1)["id"]
        assert store.ack_alert(one, "analyst", "2026-11-23T08:00:00Z") is True
        assert store.ack_alert("000000000000", "analyst", "2026-11-23T08:00:00Z") is False
        acked = store.get_alert(one)
        assert acked is not None and (acked["acked_by"], acked["acked_at"]) == ("analyst", "2026-11-23T08:00:00Z")

        assert {a["id"] for a in store.undelivered_alerts()} == {one, _alert(2, rule="q")["id"]}
        store.set_delivery(one, "log", {"status": "failed", "attempts": 1, "last_error": "down"})
        assert one in {a["id"] for a in store.undelivered_alerts()}
        store.set_delivery(one, "log", {"status": "sent", "attempts": 2})
        assert [a["id"] for a in store.undelivered_alerts()] == [_alert(2, rule="q")["id"]]
        assert store.get_alert(one)["deliveries"] == {"log": {"status": "sent", "attempts": 2}}  # type: ignore[index]
        with pytest.raises(KeyError):
            store.set_delivery("000000000000", "log", {"status": "sent"})

    def test_undelivered_alerts_page_in_order(self, store: Store) -> None:
        store.add_alerts([_alert(n, created=f"2026-11-2{n}T10:00:00Z") for n in range(1, 6)])
        seen: list[str] = []
        after = None
        while page := store.undelivered_alerts(limit=2, after=after):
            seen += [a["phone"] for a in page]
            after = (page[-1]["created_at"], page[-1]["id"])
        assert seen == [f"+4670174060{n}" for n in range(1, 6)]


# --- crawl runs ----------------------------------------------------------------------------------------


class TestRunLog:
    """RunLog: one record per crawl."""

    def test_crawl_runs(self, store: Store) -> None:
        run = store.start_run("s", "2026-11-28T10:00:00Z")
        store.finish_run(run, finished_at="2026-11-28T10:05:00Z", status="ok", pages=3, new_ads=2, stats={"a": 1})
        (row,) = store.runs("s")
        assert row["status"] == "ok" and row["new_ads"] == 2 and row["stats"] == {"a": 1}
        with pytest.raises(ValueError):
            store.finish_run(run, colour="red")

    def test_first_finished_run_is_the_baseline_end(self, store: Store) -> None:
        assert store.first_finished_run("s") is None
        failed, first, second = (store.start_run("s", f"2026-11-2{n}T00:00:00Z") for n in range(3))
        store.finish_run(failed, status="failed", finished_at="2026-11-20T01:00:00Z")
        store.finish_run(second, status="ok", finished_at="2026-11-22T01:00:00Z")
        store.finish_run(first, status="partial", finished_at="2026-11-21T01:00:00Z")
        store.start_run("t", "2026-11-19T00:00:00Z")
        assert store.first_finished_run("s") == "2026-11-21T01:00:00Z" and store.first_finished_run("t") is None

    @staticmethod
    def _owned(store: Store, source: str, lock: Path | None, host: str | None = None) -> int:
        """A run started as the crawl-run recorder starts one: naming its crawl and the lock it holds."""
        run = store.start_run(source, "2026-11-28T10:00:00Z")
        if lock is not None:
            lock.parent.mkdir(parents=True, exist_ok=True)
            lock.touch()
            owner = RunOwner(host or this_host(), 4242, str(lock))
            store.finish_run(run, stats=owner_stats(owner))
        return run

    def test_a_run_whose_crawl_is_gone_is_marked_crashed_on_the_next_look(self, store: Store,
                                                                         tmp_path: Path) -> None:
        home = tmp_path / "home"
        live = self._owned(store, "live", lock_path(home, "live"))
        gone = self._owned(store, "gone", lock_path(home, "gone"))
        elsewhere = self._owned(store, "other", lock_path(home, "other"), host="another-machine")
        unnamed = self._owned(store, "old", None)  # no owner: cannot be told, left alone
        done = self._owned(store, "done", lock_path(home, "done"))
        store.finish_run(done, status="ok", finished_at="2026-11-28T10:05:00Z")
        with crawl_lock(home, "live"):  # a crawl that still runs holds its lock
            status = {r["id"]: r for r in store.runs()}
            assert status[live]["status"] == "running"
            assert status[gone]["status"] == CRASHED and "without finishing" in status[gone]["reason"]
            assert (status[elsewhere]["status"], status[unnamed]["status"]) == ("running", "running")
            assert status[done]["status"] == "ok"
        # The live crawl ends without finishing its run (as after kill -9): the next look says so.
        (row,) = store.runs("live")
        assert row["status"] == CRASHED and row.get("finished_at") is None
        assert store.mark_crashed() == {}  # written once: the next look finds nothing left to mark
        assert {r["id"]: r["status"] for r in store.runs()} == {
            live: CRASHED, gone: CRASHED, elsewhere: "running", unnamed: "running", done: "ok"}

    def test_the_crawl_holding_a_sources_lock_marks_its_leftovers(self, store: Store, tmp_path: Path) -> None:
        home = tmp_path / "home"
        mine = lock_path(home, "s")
        leftover = self._owned(store, "s", mine)  # an earlier crawl under the same lock, killed
        unnamed = self._owned(store, "s", None)  # killed before it could name itself, or older
        other_home = self._owned(store, "s", lock_path(tmp_path / "other", "s"))  # another home's crawl
        other_source = self._owned(store, "t", None)
        with crawl_lock(home, "s"), crawl_lock(tmp_path / "other", "s"):
            marked = store.mark_crashed("s", holding=str(mine))
            assert set(marked) == {leftover, unnamed}
            status = {r["id"]: r["status"] for r in store.runs()}
        assert status == {leftover: CRASHED, unnamed: CRASHED, other_home: "running", other_source: "running"}


# --- admin ---------------------------------------------------------------------------------------------


class TestStoreAdmin:
    """StoreAdmin: the summary, reopening."""

    def test_a_store_can_be_reopened_and_keeps_everything(self, store_factory: Factory) -> None:
        first = store_factory()
        first.write_ads([ad(1, phones=["+46701740605"])])
        first.close()
        again = store_factory()
        again.refresh()
        assert again.get_ad("s:1") is not None and again.summary()["ads"] == 1

    def test_summary(self, corpus: Store) -> None:
        summary = corpus.summary()
        assert summary["ads"] == 4 and summary["phones"] == 1 and summary["towns"] == 2
        assert summary["top_towns"] == {"Gävle": 2, "Sandviken": 2}
        assert summary["sources"] == {"s": 3, "t": 1}
        assert summary["top_phones"] == [{"e164": "+46701740605", "ads": 1, "towns": ["Gävle"]}]


# --- legal holds (issue 15) ----------------------------------------------------------------------


class TestHolds:
    def test_add_list_release(self, store: Store) -> None:
        first = store.add_hold("C-1", "ad", "s:1 s:2", ["s:2", "s:1", "s:1"], "cli:anna", "2026-12-01T08:00:00Z")
        store.add_hold("C-1", "phone", "+46701740605", [], "cli:anna", "2026-12-01T08:00:00Z")
        store.add_hold("C-2", "search", "hotell", ["s:3"], "cli:bo", "2026-12-01T09:00:00Z")
        assert first["ads"] == ["s:1", "s:2"] and first["released_at"] is None
        listed = store.holds()
        assert [(h["case"], h["kind"]) for h in listed] == [("C-1", "ad"), ("C-1", "phone"), ("C-2", "search")]
        assert listed[0] == first
        released = store.release_holds("C-1", "cli:bo", "2026-12-02T08:00:00Z")
        assert sorted(h["kind"] for h in released) == ["ad", "phone"]
        assert all(h["released_by"] == "cli:bo" and h["released_at"] == "2026-12-02T08:00:00Z" for h in released)
        assert store.release_holds("C-1", "cli:bo", "2026-12-03T08:00:00Z") == []  # none active: nothing changes
        assert [h["case"] for h in store.holds(active=True)] == ["C-2"]
        assert [h["kind"] for h in store.holds(case="C-1", active=False)] == ["ad", "phone"]
        assert len(store.holds()) == 3  # released holds stay listed

    def test_an_unknown_kind_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="kind"):
            store.add_hold("C", "town", "Gävle", [], "cli:a", "2026-12-01T08:00:00Z")


# --- retention (issue 15) ------------------------------------------------------------------------


def _ev(n: int) -> dict[str, Any]:
    return {"warc": "warc/a.warc.gz", "offset": n * 100, "length": 100, "record_id": f"<urn:uuid:{n}>",
            "sha256": "0" * 64, "fetched_at": "2026-11-20T00:00:00Z", "url": f"http://x/{n}",
            "related": [{"type": "request", "warc": "warc/a.warc.gz", "offset": n * 100 + 50, "length": 50,
                         "record_id": f"<urn:uuid:{n}r>", "sha256": "0" * 64, "fetched_at": "2026-11-20T00:00:00Z",
                         "url": f"http://x/{n}"}]}


class TestRetention:
    def test_expired_and_removed_by_id(self, store: Store) -> None:
        store.write_ads([ad(1, phones=["+46701740605"], last_seen_at="2026-01-01T00:00:00Z",
                            first_seen_at="2026-01-01T00:00:00Z"),
                         ad(2, phones=["+46701740606"])])
        store.write_ads([ad(2, phones=["+46701740606"], content_hash="h2b")])  # a version of ad 2
        store.refresh()
        assert store.expired_ads("2026-06-01T00:00:00Z") == ["s:1"]
        assert store.expired_versions("2026-12-01T00:00:00Z") == [("s:2", 1)]
        assert store.purge_ads(["s:1"], before="2025-06-01T00:00:00Z") == 0  # seen since: kept
        assert store.purge_ads(["s:1", "s:1", "s:404"], before="2026-06-01T00:00:00Z") == 1
        assert store.purge_ads(["s:1"]) == 0  # idempotent
        store.refresh()
        assert store.get_ad("s:1") is None and ids(store, text="massage") == ["s:2"]
        entry = store.phone_record("+46701740605")
        assert entry is not None and entry["ads_count"] == 0 and entry["last_seen_at"] == "2026-01-01T00:00:00Z"
        assert store.orphan_phones("2026-06-01T00:00:00Z") == ["+46701740605"]
        assert store.orphan_phones("2025-06-01T00:00:00Z") == []
        assert store.purge_phones(["+46701740605", "+46701740606"]) == 1  # a number an ad carries stays
        assert store.purge_versions([("s:2", 1)]) == 1 and store.ad_versions("s:2") == []

    def test_alerts_and_runs(self, store: Store) -> None:
        store.add_alerts([{"id": f"a{n}", "key": f"k{n}", "rule": "r", "kind": "k", "phone": "+46701740605",
                           "ad": "s:1", "created_at": at, "details": {}, "deliveries": {}}
                          for n, at in enumerate(["2025-01-01T00:00:00Z", "2026-11-01T00:00:00Z"])])
        old = store.start_run("s", "2024-01-01T00:00:00Z")
        store.finish_run(old, status="ok", finished_at="2024-01-01T01:00:00Z")
        store.start_run("s", "2024-01-02T00:00:00Z")  # still running: never expired
        store.refresh()
        assert store.expired_alerts("2026-01-01T00:00:00Z") == [("a0", "s:1", "+46701740605")]
        assert store.purge_alerts(["a0"]) == 1 and [a["id"] for a in store.alerts()] == ["a1"]
        assert store.expired_runs("2025-01-01T00:00:00Z") == [old]
        assert store.purge_runs([old]) == 1 and len(store.runs()) == 1

    def test_audit_purge_keeps_a_chain_that_verifies(self, store: Store) -> None:
        from adwatch.audit_cmd import walk

        for at in ("2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z", "2026-01-01T00:00:00Z"):
            store.audit_append("anna", "search", {}, 1, at)
        through = store.expired_audit("2021-01-01T00:00:00Z")
        assert through is not None and through[0] == 2
        entry = store.audit_purge(through[0], "cli:t", "purge",
                                  {"audit": {"through": 2, "anchor": f"{through[0]}:{through[1]}"}}, 2,
                                  "2026-12-01T00:00:00Z")
        assert entry["seq"] == 4 and [e["seq"] for e in store.audit_chain()] == [3, 4]
        report = walk(store)
        assert report.ok and report.start == f"2:{through[1]}"
        store.audit_append("anna", "search", {}, 1)  # the log goes on after a purge
        assert walk(store).ok

    def test_versions_keep_evidence_and_references_move(self, store: Store) -> None:
        store.write_ads([ad(1, evidence=_ev(1))])
        store.write_ads([ad(1, content_hash="h1b", evidence=_ev(2))])
        assert store.ad_versions("s:1")[0]["evidence"] == _ev(1)
        store.refresh()
        assert sorted(((i, v) for i, v, _ in store.evidence_refs()), key=str) == [("s:1", 1), ("s:1", None)]
        moves = {100: ("warc/b.warc.gz", 0), 150: ("warc/b.warc.gz", 100), 200: ("warc/b.warc.gz", 150)}
        assert store.relocate_evidence(["s:1"], "warc/a.warc.gz", moves) == 3
        assert store.relocate_evidence(["s:1"], "warc/a.warc.gz", moves) == 0  # idempotent
        store.refresh()
        now, old = store.get_ad("s:1")["evidence"], store.ad_versions("s:1")[0]["evidence"]  # type: ignore[index]
        assert (now["warc"], now["offset"], now["related"][0]["offset"]) == ("warc/b.warc.gz", 150, 250)
        assert now["related"][0]["warc"] == "warc/a.warc.gz"  # 250 was not moved
        assert (old["warc"], old["offset"], old["related"][0]["offset"]) == ("warc/b.warc.gz", 0, 100)
