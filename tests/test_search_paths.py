"""The SQLite store answers a search in one of several ways (every hit kept for the facets, a
count and one page straight from the indexes, the full-text index alone): each must give the
same total and the same pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.index_bench import synthetic_ads
from index.query import Near, SearchQuery
from index.sqlite import SqliteStore

QUERIES = [
    SearchQuery(), SearchQuery(text="massage"), SearchQuery(text="massage", sort="newest"),
    SearchQuery(text="massage", sort="score"), SearchQuery(text="ring -massage"), SearchQuery(text='"ny stan"'),
    SearchQuery(text="tjej OR escort", offset=20), SearchQuery(text="ka*"), SearchQuery(towns=["Göteborg"]),
    SearchQuery(sources=["nightlist"], sort="score"), SearchQuery(categories=["movement"], min_score=1),
    SearchQuery(since=datetime(2026, 9, 1, tzinfo=UTC)), SearchQuery(near=Near(59.33, 18.07, 25)),
    SearchQuery(counties=["Stockholms län"], languages=["sv"]), SearchQuery(text="massage", towns=["Stockholm"]),
    SearchQuery(text="zzzznothing"), SearchQuery(text="massage", offset=10_000),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    db = SqliteStore(Path(tmp_path_factory.mktemp("paths")) / "t.db")
    db.write_ads(synthetic_ads(3000, "SE", seed=4))
    yield db
    db.close()


@pytest.mark.parametrize("query", QUERIES, ids=[str(n) for n in range(len(QUERIES))])
def test_every_path_gives_the_same_answer(store: SqliteStore, query: SearchQuery) -> None:
    kept = store.search(replace(query, facets=True))
    direct = store.search(replace(query, facets=False))
    assert direct.total == kept.total and direct.facets == {}
    if query.effective_sort == "relevance":
        # Full-text rank ties may come in another order: the same ads, rank for rank.
        assert len(direct.hits) == len(kept.hits)
        every = {ad["id"] for ad in store.search(replace(query, limit=10_000, offset=0, facets=False)).hits}
        assert {ad["id"] for ad in direct.hits} <= every
    else:
        assert [ad["id"] for ad in direct.hits] == [ad["id"] for ad in kept.hits]


def test_words_alone_page_through_every_hit_once(store: SqliteStore) -> None:
    query = SearchQuery(text="massage", limit=50, facets=False)
    total = store.search(query).total
    seen: list[str] = []
    for offset in range(0, total, 50):
        seen += [ad["id"] for ad in store.search(replace(query, offset=offset)).hits]
    assert len(seen) == len(set(seen)) == total
