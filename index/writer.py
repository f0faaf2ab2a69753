"""Durable writing: batches of ads and sightings into the store, or into the spool when the
store cannot take them now. Plain Python: the store pipeline (``pipelines/store.py``) and
``adwatch index flush`` both write through it.

A batch the store cannot take now (locked past the timeout, disk full, unreachable) is put
in the spool (beside the store: ``adwatch.spool/`` next to ``adwatch.db``) and replayed, in
order, before the next batch and at the start of the next crawl. A record the store refuses
for its content is set aside in ``rejected/`` with the reason, so one bad ad never blocks
the others. Nothing is lost and the crawl goes on.

After each batch of ads the store took, the writer tells its listeners (in a crawl: the
store pipeline, which sends ``pipelines.signals.ads_written``; the alert rules listen). A
check of the alert rules that could not be stored is spooled as an "alertcheck" and handed
to ``check_alerts`` on replay.

A batch that neither the store nor the spool can take (the disk is full, the file-size
limit is reached, the store is damaged) is never dropped in silence: one error line names
its records and the reason, ``not_stored`` counts them, and the writer stops the crawl
(``on_not_stored``, set by ``writer_for_crawler``) or, outside a crawl, raises ``NotStored``.

Outcomes are counted in ``counts`` (event → number: new, updated, new_phones, touched,
batches, spooled_batches, replayed_batches, rejected, not_stored); the pipeline copies them
into the crawl's stats as ``adwatch/store/<event>``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from index.open import StoreConfigError
from index.spool import Batch, Spool, SpoolError
from index.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)

# e164 → the registry's first sighting (ad id, first seen at): ``WriteOutcome.first_sightings``.
NewPhones = Mapping[str, tuple[str, str]]
# Told of a batch of ads the store took, with the numbers that write registered.
AdsWritten = Callable[[Batch, NewPhones], None]

# Kept for a person (or a later evaluate) rather than dropped: the wording is what users see in rejected/.
ALERTS_OFF = ("alerts were off when this check was replayed; "
              "run 'adwatch alerts evaluate' once they are on")
# The crawl's close reason when a batch could be neither stored nor spooled (the run's reason).
NOT_STORED_REASON = "not_stored"


class NotStored(RuntimeError):
    """Records neither the store nor the spool could take; the message is one line (how many,
    which store, why, what to do). Raised outside a crawl; a crawl is stopped instead."""


class StoreWriter:
    def __init__(self, store: Store, spool: Spool) -> None:
        self.store = store
        self.spool = spool
        self.counts: Counter[str] = Counter()
        # Called after every batch of ads the store took (also replayed and one-by-one writes).
        # A listener must not raise: its failure is its own, never the write's.
        self.ads_listeners: list[AdsWritten] = []
        # Evaluates the alert rules on ads already written (a spooled "alertcheck"). It may
        # raise StoreUnavailable (the check stays spooled). None: alerts are off.
        self.check_alerts: AdsWritten | None = None
        # Told (with the one-line reason) when records could be neither stored nor spooled: a
        # crawl closes its spider. None: ``NotStored`` is raised to the caller instead.
        self.on_not_stored: Callable[[str], None] | None = None
        # One method per kind of batch: the kind is also the spool file's suffix.
        self._kinds: dict[str, Callable[[Batch], None]] = {
            "ads": self._ads, "sightings": self._sightings, "alertcheck": self._alertcheck}

    # --- one method per kind ------------------------------------------------------------
    def _ads(self, batch: Batch) -> None:
        outcome = self.store.write_ads(batch)
        self.counts["new"] += outcome.new
        self.counts["updated"] += outcome.updated
        self.counts["new_phones"] += len(outcome.new_phones)
        for listener in self.ads_listeners:
            listener(batch, outcome.first_sightings)

    def _sightings(self, batch: Batch) -> None:
        self.counts["touched"] += self.store.touch([(s["id"], s["seen_at"]) for s in batch])

    def _alertcheck(self, batch: Batch) -> None:
        for check in batch:
            if self.check_alerts is None:
                self.spool.reject("alertcheck", check, ALERTS_OFF)
                continue
            # JSON made the (ad id, first seen) pairs lists: the rules take them as written.
            self.check_alerts(check["ads"], {e164: (first[0], first[1])
                                             for e164, first in check["new_phones"].items()})

    def _write(self, kind: str, batch: Batch) -> None:
        write = self._kinds.get(kind)
        if write is None:  # a spool file renamed by hand, or from a newer adwatch
            raise ValueError(f"unknown kind of batch {kind!r} (known: {', '.join(self._kinds)})")
        write(batch)

    # --- writing ------------------------------------------------------------------------
    def write(self, kind: str, batch: Batch) -> None:
        """Write a batch; if the data (not the store) is at fault, write what can be written.

        ``StoreUnavailable`` propagates (the batch is kept for later). Any other error means
        some record is bad: records are then written one by one and the bad ones are set
        aside in the spool's ``rejected/`` folder, so they cannot block every later batch.
        """
        try:
            self._write(kind, batch)
            return
        except (StoreUnavailable, StoreConfigError):  # the store is at fault (a damaged file), not the data
            raise
        except Exception as exc:
            logger.error("store: a %s batch failed (%s); writing its records one by one", kind, exc)
        for record in batch:
            try:
                self._write(kind, [record])
            except (StoreUnavailable, StoreConfigError):
                raise
            except Exception as exc:
                try:
                    self.spool.reject(kind, record, str(exc))
                except SpoolError as spool_exc:
                    self.not_stored(kind, [record], f"refused by the store ({exc}) and {spool_exc}")
                    continue
                self.counts["rejected"] += 1
                logger.error("store: rejected %s %s: %s (kept in %s)", kind, record.get("id"), exc,
                             self.spool.rejected_folder)

    def replay(self) -> bool:
        """Write the spooled batches, oldest first: False when some stay spooled (the store
        is still unavailable, or a spool file could not be read)."""
        try:
            replayed = self.spool.replay(self.write)
        except StoreUnavailable as exc:
            logger.error("store: spooled batches still not accepted (%s); they stay in %s", exc, self.spool.folder)
            return False
        except Exception as exc:  # a damaged spool file: keep this crawl's batch safe, say what happened
            logger.error("store: replaying %s failed (%s); new batches are spooled", self.spool.folder, exc)
            return False
        if replayed:
            self.counts["replayed_batches"] += replayed
            logger.info("store: replayed %d spooled batches", replayed)
        return True

    def flush(self, batches: Iterable[tuple[str, Batch]]) -> None:
        """Replay the spool, then write each (kind, batch) in order; from the first one the
        store cannot take, the rest go to the spool (in order, behind the ones waiting)."""
        healthy = self.replay()
        why = "earlier batches wait in the spool"
        for kind, batch in batches:
            if not batch:
                continue
            if healthy:
                try:
                    self.write(kind, batch)
                    self.counts["batches"] += 1
                    continue
                except StoreUnavailable as exc:
                    healthy, why = False, str(exc)
                    logger.error("store: write failed (%s); batch of %d %s spooled for retry", exc, len(batch), kind)
                except StoreConfigError as exc:  # damaged: spooling would only hide it
                    self.not_stored(kind, batch, str(exc))
                    continue
            try:
                self.spool.append(kind, batch)
            except SpoolError as exc:
                self.not_stored(kind, batch, f"the store could not take it ({why}) and {exc}")
                continue
            self.counts["spooled_batches"] += 1

    def not_stored(self, kind: str, records: Batch, reason: str) -> None:
        """Records kept nowhere: say which and why in one line, count them, stop the crawl (or raise)."""
        self.counts["not_stored"] += len(records)
        ids = ", ".join(str(r.get("id", "?")) for r in records if isinstance(r, dict))
        line = " ".join(f"{len(records)} {kind} records not stored: {reason}".split())
        logger.error("store: %s; the crawl stops; free space (or repair the store) and crawl again [%s]", line, ids)
        if self.on_not_stored is None:
            raise NotStored(line)
        self.on_not_stored(line)

    def spool_alertcheck(self, ads: Batch, new_phones: NewPhones) -> None:
        """Keep a check of the alert rules the store could not take, for ``check_alerts`` on replay."""
        try:
            self.spool.append("alertcheck", [{"ads": ads, "new_phones": dict(new_phones)}])
        except SpoolError as exc:
            self.not_stored("alertcheck", [{"id": ad.get("id")} for ad in ads],
                            f"the alert check could not be stored and {exc}")

    def take_counts(self) -> dict[str, int]:
        """The counts since the last take (for a caller that adds them up elsewhere)."""
        taken = dict(self.counts)
        self.counts.clear()
        return taken


def writer_for_crawler(crawler: Any) -> StoreWriter:
    """One writer per crawler, over the crawler's store (``index.open.store_for_crawler``), shared
    by the store pipeline (writes) and the alerts extension (spools and replays its checks)."""
    writer: StoreWriter | None = getattr(crawler, "_adwatch_writer", None)
    if writer is None:
        from index.open import spool_dir, store_config, store_for_crawler

        writer = StoreWriter(store_for_crawler(crawler), Spool(spool_dir(store_config(crawler.settings))))
        writer.on_not_stored = lambda reason: _stop_crawl(crawler, reason)
        crawler._adwatch_writer = writer
    return writer


def _stop_crawl(crawler: Any, reason: str) -> None:
    """Close the spider: going on would fetch ads that cannot be kept. Once is enough; a spider
    already closing is left to finish (its last batch is reported the same way)."""
    engine = getattr(crawler, "engine", None)
    if engine is None or engine.spider is None or getattr(crawler, "_adwatch_not_stored", False):
        return
    crawler._adwatch_not_stored = True
    # The crawl runs on Scrapy's asyncio reactor (its default): the engine's coroutine goes on that
    # loop, so this module stays free of Scrapy and Twisted. The run's reason: "not_stored: …".
    closing = engine.close_spider_async(reason=f"{NOT_STORED_REASON}: {reason}")
    try:
        crawler._adwatch_closing = asyncio.get_running_loop().create_task(closing)  # kept: a task may be GC'd
    except RuntimeError:  # no running loop (a test's bare crawler): the error line above has said it
        closing.close()
