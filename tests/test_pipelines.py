from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from scrapy import Spider
from scrapy.exceptions import DropItem
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from index.spool import Spool
from index.sqlite import SqliteStore
from index.writer import StoreWriter
from pipelines.dedupe import DedupePipeline
from pipelines.enrich import EnrichPipeline
from pipelines.normalize import NormalizePipeline
from pipelines.store import StorePipeline
from spiders.items import Ad, AdSighting


@pytest.fixture
def stats() -> MemoryStatsCollector:
    return MemoryStatsCollector(get_crawler(Spider))


def raw_ad(n: int = 1, **over: object) -> Ad:
    fields: dict[str, object] = {
        "id": f"demo:{n}", "source": "demo", "url": f"http://127.0.0.1/ad/{n}", "fetched_at": "2026-11-28T10:00:00Z",
        "title": "<h1>Ny i stan</h1>",
        "text": "<div class='ad-body'><p>Söt tjej i Gävle.<br>Ring 070-174 06 05</p></div>",
        "posted_at": "2026-11-20T14:03:00+01:00", "location": "<span>Sandviken</span>", "age": "23 år",
        "price": "1 500 kr", "phone_field": "031-390 06 42", "images": ["http://x/1.jpg", "http://x/1.jpg"],
    }
    fields.update(over)
    return Ad(**fields)  # type: ignore[arg-type]


def chain(stats: MemoryStatsCollector, store: SqliteStore, item: object) -> object:
    for stage in (NormalizePipeline(stats), DedupePipeline(store, stats), EnrichPipeline(stats)):
        item = stage.process_item(item)
    return item


def test_normalize_cleans_and_parses(stats: MemoryStatsCollector) -> None:
    ad = NormalizePipeline(stats).process_item(raw_ad())
    assert ad.title == "Ny i stan"
    assert ad.text == "Söt tjej i Gävle.\nRing 070-174 06 05"
    assert ad.posted_at == "2026-11-20T13:03:00Z"
    assert (ad.age, ad.price, ad.currency, ad.location) == (23, 1500, "SEK", "Sandviken")
    assert ad.images == ["http://x/1.jpg"]
    assert stats.get_value("adwatch/normalize/ok") == 1


def test_normalize_counts_problems_and_keeps_the_ad(stats: MemoryStatsCollector) -> None:
    pipe = NormalizePipeline(stats, max_text_chars=100)
    ad = pipe.process_item(raw_ad(text="x" * 5000, posted_at="not a date"))
    assert len(ad.text) == 100 and ad.posted_at is None
    assert stats.get_value("adwatch/normalize/text_truncated") == 1
    assert stats.get_value("adwatch/normalize/bad_date") == 1
    kept = pipe.process_item(raw_ad(text="", title=""))  # the phone field alone is worth keeping
    assert kept.phone_field and stats.get_value("adwatch/normalize/no_text") == 1


def test_normalize_drops_an_empty_ad(stats: MemoryStatsCollector) -> None:
    with pytest.raises(DropItem, match="empty ad"):
        NormalizePipeline(stats).process_item(raw_ad(text="<div> </div>", title="", phone_field=None))
    assert stats.get_value("adwatch/normalize/empty") == 1


def test_enrich_fills_phones_and_towns(stats: MemoryStatsCollector, store: SqliteStore) -> None:
    ad = chain(stats, store, raw_ad())
    assert isinstance(ad, Ad)
    assert ad.phones == ["+46701740605", "+46313900642"]
    assert ad.town == "Sandviken" and ad.county == "Gävleborgs län" and ad.lat and ad.lon
    assert [t["name"] for t in ad.towns] == ["Sandviken", "Gävle"]
    assert ad.language == "sv"


def test_dedupe_new_unchanged_changed(stats: MemoryStatsCollector, store: SqliteStore) -> None:
    first = chain(stats, store, raw_ad())
    assert isinstance(first, Ad) and first.version == 1 and first.first_seen_at == "2026-11-28T10:00:00Z"
    store.write_ads([first.__dict__])
    again = chain(stats, store, raw_ad(fetched_at="2026-11-29T10:00:00Z"))
    assert isinstance(again, AdSighting) and again.seen_at == "2026-11-29T10:00:00Z" and again.ids == ["demo:1"]
    changed = chain(stats, store, raw_ad(fetched_at="2026-11-30T10:00:00Z", text="Nu i Gävle. Ring 070-174 06 06"))
    assert isinstance(changed, Ad)
    assert changed.version == 2 and changed.first_seen_at == "2026-11-28T10:00:00Z"
    assert [stats.get_value(f"adwatch/dedupe/{k}") for k in ("new", "unchanged", "changed")] == [1, 1, 1]


def test_dedupe_remembers_unflushed_ads_of_this_run(stats: MemoryStatsCollector, store: SqliteStore) -> None:
    dedupe = DedupePipeline(store, stats)
    normalize = NormalizePipeline(stats)
    assert isinstance(dedupe.process_item(normalize.process_item(raw_ad())), Ad)
    assert isinstance(dedupe.process_item(normalize.process_item(raw_ad())), AdSighting)


def test_store_batches_writes_and_sightings(stats: MemoryStatsCollector, store: SqliteStore,
                                            tmp_path: Path) -> None:
    pipe = StorePipeline(StoreWriter(store, Spool(tmp_path / "spool")), stats, batch_size=3)
    for n in range(1, 3):
        pipe.process_item(chain(stats, store, raw_ad(n)))
    assert store.summary()["ads"] == 0  # not flushed yet
    pipe.process_item(AdSighting(["demo:1"], "demo", "2026-12-01T00:00:00Z"))
    assert store.summary()["ads"] == 2
    pipe.process_item(chain(stats, store, raw_ad(3)))
    pipe.close_spider()
    assert store.summary()["ads"] == 3
    assert stats.get_value("adwatch/store/new") == 3


def test_store_spools_when_locked_and_replays_in_order(stats: MemoryStatsCollector, tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SqliteStore(path, timeout=0.2)
    spool = Spool(tmp_path / "spool")
    pipe = StorePipeline(StoreWriter(store, spool), stats, batch_size=1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    pipe.process_item(chain(stats, store, raw_ad(1)))
    pipe.process_item(chain(stats, store, raw_ad(1, fetched_at="2026-11-29T00:00:00Z", title="Changed")))
    assert len(spool.pending()) == 2 and stats.get_value("adwatch/store/spooled_batches") == 2
    blocker.execute("ROLLBACK")
    blocker.close()
    pipe.process_item(chain(stats, store, raw_ad(2)))  # the next batch replays the spool first
    assert spool.pending() == []
    got = store.get_ad("demo:1")
    assert got is not None and got["title"] == "Changed" and got["version"] == 2
    assert store.get_ad("demo:2") is not None
    assert stats.get_value("adwatch/store/replayed_batches") == 2
    store.close()


def test_a_bad_record_is_set_aside_and_the_rest_is_written(stats: MemoryStatsCollector, store: SqliteStore,
                                                           tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    pipe = StorePipeline(StoreWriter(store, spool), stats, batch_size=3)
    good = chain(stats, store, raw_ad(1))
    bad = chain(stats, store, raw_ad(2))
    assert isinstance(bad, Ad)
    bad.price = 10**30  # SQLite cannot hold it: a data error, not an unavailable store
    pipe.process_item(good)
    pipe.process_item(bad)
    pipe.process_item(chain(stats, store, raw_ad(3)))
    assert store.get_ad("demo:1") and store.get_ad("demo:3") and store.get_ad("demo:2") is None
    assert spool.pending() == [] and len(list(spool.rejected_folder.iterdir())) == 1
    assert stats.get_value("adwatch/store/rejected") == 1
    pipe.process_item(chain(stats, store, raw_ad(4)))  # later batches are not blocked
    pipe.close_spider()
    assert store.get_ad("demo:4") is not None


def test_spool_survives_a_new_pipeline(stats: MemoryStatsCollector, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append("ads", [{"id": "demo:9", "source": "demo", "url": "u", "first_seen_at": "2026-11-28T00:00:00Z",
                          "last_seen_at": "2026-11-28T00:00:00Z", "content_hash": "h"}])
    store = SqliteStore(tmp_path / "next.db")
    StorePipeline(StoreWriter(store, spool), stats).open_spider()
    assert store.get_ad("demo:9") is not None and spool.pending() == []
    store.close()
