"""Store: batched writes of ads and sightings to the configured store.

A batch the store cannot take now (locked past the timeout, disk full, unreachable) is
put in the spool (beside the store: ``adwatch.spool/`` next to ``adwatch.db``) and
replayed, in order, before the next batch and at the start of the next crawl. A record
the store refuses for its content is set aside in ``rejected/`` with the reason, so one
bad ad never blocks the others. Nothing is lost and the crawl goes on.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from index import Store, store_for_crawler
from index.open import spool_dir
from index.spool import Batch, Spool
from index.store import StoreUnavailable
from spiders.items import AdSighting

logger = logging.getLogger(__name__)


class Counter(Protocol):
    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None: ...


class Counts:
    """``inc_value`` of a StatsCollector, for writes outside a crawl (``adwatch index flush``)."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self.values[key] = self.values.get(key, start) + count


def flush_spool(store: Store, spool: Spool) -> tuple[bool, dict[str, int]]:
    """Replay the spool into the store now: (all replayed, counts)."""
    counts = Counts()
    replayed = StorePipeline(store, counts, spool)._replay()
    return replayed and not spool.pending(), counts.values


class StorePipeline:
    def __init__(self, store: Store, stats: StatsCollector | Counter, spool: Spool, batch_size: int = 50) -> None:
        self.store = store
        self.stats = stats
        self.spool = spool
        self.batch_size = max(1, batch_size)
        self.ads: Batch = []
        self.sightings: Batch = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        assert crawler.stats is not None
        return cls(store_for_crawler(crawler), crawler.stats, Spool(spool_dir(crawler.settings)),
                   crawler.settings.getint("ADWATCH_STORE_BATCH_SIZE"))

    def open_spider(self) -> None:
        self._replay()

    def close_spider(self) -> None:
        self.flush()

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        if isinstance(item, AdSighting):
            self.sightings.extend({"id": ad_id, "seen_at": adapter["seen_at"]} for ad_id in adapter["ids"])
        else:
            # A shallow copy: ItemAdapter.asdict() deep-copies every list and cost more than the write.
            self.ads.append(dict(adapter.items()))
        if len(self.ads) + len(self.sightings) >= self.batch_size:
            self.flush()
        return item

    def _write(self, kind: str, batch: Batch) -> None:
        if kind == "ads":
            outcome = self.store.write_ads(batch)
            self.stats.inc_value("adwatch/store/new", outcome.new)
            self.stats.inc_value("adwatch/store/updated", outcome.updated)
        else:
            self.stats.inc_value("adwatch/store/touched", self.store.touch([(s["id"], s["seen_at"]) for s in batch]))

    def _apply(self, kind: str, batch: Batch) -> None:
        """Write a batch; if the data (not the store) is at fault, write what can be written.

        ``StoreUnavailable`` propagates (the batch is kept for later). Any other error means
        some record is bad: records are then written one by one and the bad ones are set
        aside in the spool's ``rejected/`` folder, so they cannot block every later batch.
        """
        try:
            self._write(kind, batch)
            return
        except StoreUnavailable:
            raise
        except Exception as exc:
            logger.error("store: a %s batch failed (%s); writing its records one by one", kind, exc)
        for record in batch:
            try:
                self._write(kind, [record])
            except StoreUnavailable:
                raise
            except Exception as exc:
                self.spool.reject(kind, record, str(exc))
                self.stats.inc_value("adwatch/store/rejected")
                logger.error("store: rejected %s %s: %s (kept in %s)", kind, record.get("id"), exc,
                             self.spool.rejected_folder)

    def _replay(self) -> bool:
        try:
            replayed = self.spool.replay(self._apply)
        except StoreUnavailable as exc:
            logger.error("store: spooled batches still not accepted (%s); they stay in %s", exc, self.spool.folder)
            return False
        except Exception as exc:  # a damaged spool file: keep this crawl's batch safe, say what happened
            logger.error("store: replaying %s failed (%s); new batches are spooled", self.spool.folder, exc)
            return False
        if replayed:
            self.stats.inc_value("adwatch/store/replayed_batches", replayed)
            logger.info("store: replayed %d spooled batches", replayed)
        return True

    def flush(self) -> None:
        pending = [("ads", self.ads), ("sightings", self.sightings)]
        self.ads, self.sightings = [], []
        healthy = self._replay()
        for kind, batch in pending:
            if not batch:
                continue
            if healthy:
                try:
                    self._apply(kind, batch)
                    self.stats.inc_value("adwatch/store/batches")
                    continue
                except StoreUnavailable as exc:
                    healthy = False
                    logger.error("store: write failed (%s); batch of %d %s spooled for retry", exc, len(batch), kind)
            self.spool.append(kind, batch)
            self.stats.inc_value("adwatch/store/spooled_batches")
