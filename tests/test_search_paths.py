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
    assert [ad["id"] for ad in direct.hits] == [ad["id"] for ad in kept.hits]  # the same order, ties too


@pytest.mark.parametrize("text", ["massage", "ring", "i", '"ny stan"', "centr*", "escort OR student"])
def test_words_alone_page_through_every_hit_once_in_order(store: SqliteStore, text: str) -> None:
    """Paged 37 at a time, with and without facets mixed: every hit once, in one request's order."""
    query = SearchQuery(text=text, limit=37)
    whole = [ad["id"] for ad in store.search(replace(query, limit=10_000, facets=True)).hits]
    seen: list[str] = []
    for n, offset in enumerate(range(0, len(whole), 37)):
        seen += [ad["id"] for ad in store.search(replace(query, offset=offset, facets=n % 2 == 0)).hits]
    assert seen == whole


def test_ties_in_rank_past_the_room_read_fall_back(tmp_path: Path) -> None:
    """More identical ads (equal rank) than the fast path reads past a page: the same order still."""
    db = SqliteStore(tmp_path / "ties.db")
    try:
        twins = [ad | {"id": f"twin:{n}", "text": "samma text varje gång", "title": "Samma",
                       "seen_date": None, "posted_at": f"2026-10-{1 + n % 28:02d}T10:00:00Z",
                       "first_seen_at": f"2026-10-{1 + n % 28:02d}T10:00:00Z"}
                 for n, ad in enumerate(synthetic_ads(200, "SE", seed=9))]
        db.write_ads(twins)
        query = SearchQuery(text="samma", limit=20, offset=40)
        assert [a["id"] for a in db.search(replace(query, facets=False)).hits] == \
            [a["id"] for a in db.search(replace(query, facets=True)).hits]
    finally:
        db.close()
