"""Store: batched writes of ads and sightings to the configured store.

A batch the store cannot take now (locked past the timeout, disk full, unreachable) is
put in the spool (beside the store: ``adwatch.spool/`` next to ``adwatch.db``) and
replayed, in order, before the next batch and at the start of the next crawl. A record
the store refuses for its content is set aside in ``rejected/`` with the reason, so one
bad ad never blocks the others. Nothing is lost and the crawl goes on.

Each written batch of ads goes through the alert rules (``alerts/engine.py``) right away.
If the store cannot take the alerts, the batch and its new numbers are spooled as an
"alertcheck" and evaluated again on replay.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from alerts.engine import AlertEngine
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


def flush_spool(store: Store, spool: Spool, alerts: AlertEngine | None = None) -> tuple[bool, dict[str, int]]:
    """Replay the spool into the store now: (all replayed, counts)."""
    counts = Counts()
    replayed = StorePipeline(store, counts, spool, alerts=alerts)._replay()
    return replayed and not spool.pending(), counts.values


class StorePipeline:
    def __init__(self, store: Store, stats: StatsCollector | Counter, spool: Spool, batch_size: int = 50,
                 alerts: AlertEngine | None = None) -> None:
        self.store = store
        self.alerts = alerts
        self.stats = stats
        self.spool = spool
        self.batch_size = max(1, batch_size)
        self.ads: Batch = []
        self.sightings: Batch = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        assert crawler.stats is not None
        store = store_for_crawler(crawler)
        return cls(store, crawler.stats, Spool(spool_dir(crawler.settings)),
                   crawler.settings.getint("ADWATCH_STORE_BATCH_SIZE"),
                   AlertEngine.from_settings(crawler.settings, store))

    def open_spider(self) -> None:
        self._replay()

    def close_spider(self) -> None:
        self.flush()
        if self.alerts is not None and self.alerts.dispatcher is not None:
            try:  # earlier failed deliveries that are due: the crawl is the retry schedule
                report = self.alerts.dispatcher.retry_waiting(patient=False)
                self.stats.inc_value("adwatch/alerts/retried_sent", report.sent)
            except Exception as exc:
                logger.error("alerts: retrying deliveries failed: %s", exc)

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
            self.stats.inc_value("adwatch/store/new_phones", len(outcome.new_phones))
            self._alert(batch, outcome.first_sightings)
        elif kind == "alertcheck":
            for check in batch:
                if self.alerts is None:  # kept for a person (or a later evaluate), never dropped
                    self.spool.reject(kind, check, "alerts were off when this check was replayed; "
                                      "run 'adwatch alerts evaluate' once they are on")
                    continue
                self._check(check["ads"], {e164: tuple(first) for e164, first in check["new_phones"].items()})
        else:
            self.stats.inc_value("adwatch/store/touched", self.store.touch([(s["id"], s["seen_at"]) for s in batch]))

    def _check(self, ads: Batch, new_phones: dict[str, Any]) -> None:
        assert self.alerts is not None
        created = self.alerts.on_written(ads, new_phones)
        self.stats.inc_value("adwatch/alerts/raised", len(created))

    def _alert(self, ads: Batch, new_phones: dict[str, tuple[str, str]]) -> None:
        """Run the rules on a written batch. The ads are stored whatever happens here: a store
        that is down spools the check for replay; any other failure is logged and left to
        ``adwatch alerts evaluate``, never allowed to fail the write."""
        if self.alerts is None:
            return
        try:
            self._check(ads, new_phones)
        except StoreUnavailable as exc:
            self.spool.append("alertcheck", [{"ads": ads, "new_phones": new_phones}])
            self.stats.inc_value("adwatch/alerts/spooled")
            logger.error("alerts: store unavailable (%s); the check of %d ads is spooled for retry", exc, len(ads))
        except Exception as exc:
            self.stats.inc_value("adwatch/alerts/error")
            logger.error("alerts: evaluating %d ads failed (%s); run 'adwatch alerts evaluate' to catch up",
                         len(ads), exc)

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
