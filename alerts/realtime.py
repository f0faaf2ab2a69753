"""The alert rules in real time: on each batch of ads the writer stored (``index/writer.py``).

The ads are stored whatever happens here. A store that cannot take the alerts now gets the
check spooled as an "alertcheck", evaluated again when the spool is replayed; any other
failure is logged and counted and left to ``adwatch alerts evaluate``. Plain Python: the
crawl runs it from a Scrapy extension (``alerts/extension.py``), ``adwatch index flush``
directly (``listen``).

Outcomes are counted in ``counts`` (raised, spooled, error, retried_sent); the extension
copies them into the crawl's stats as ``adwatch/alerts/<event>``.
"""

from __future__ import annotations

import logging
from collections import Counter

from alerts.engine import AlertEngine
from index.spool import Batch
from index.store import StoreUnavailable
from index.writer import NewPhones, StoreWriter

logger = logging.getLogger(__name__)


class RealTimeAlerts:
    def __init__(self, engine: AlertEngine, writer: StoreWriter) -> None:
        self.engine = engine
        self.writer = writer
        self.counts: Counter[str] = Counter()

    def listen(self) -> None:
        """Outside a crawl: run on every batch of ads the writer stores, and on its spooled checks."""
        self.writer.ads_listeners.append(self.after_write)
        self.writer.check_alerts = self.check

    def check(self, ads: Batch, new_phones: NewPhones) -> None:
        """Evaluate, store and send (one attempt). Raises what the store raises: a replayed
        check that meets StoreUnavailable stays in the spool."""
        created = self.engine.on_written(ads, new_phones)
        self.counts["raised"] += len(created)

    def after_write(self, ads: Batch, new_phones: NewPhones) -> None:
        """Run the rules on a written batch; never raises (the write succeeded whatever happens here)."""
        try:
            self.check(ads, new_phones)
        except StoreUnavailable as exc:
            self.writer.spool_alertcheck(ads, new_phones)
            self.counts["spooled"] += 1
            logger.error("alerts: store unavailable (%s); the check of %d ads is spooled for retry", exc, len(ads))
        except Exception as exc:
            self.counts["error"] += 1
            logger.error("alerts: evaluating %d ads failed (%s); run 'adwatch alerts evaluate' to catch up",
                         len(ads), exc)

    def retry_deliveries(self) -> None:
        """Earlier failed deliveries that are due: the crawl is the retry schedule. Never raises."""
        if self.engine.dispatcher is None:
            return
        try:
            report = self.engine.dispatcher.retry_waiting(patient=False)
            self.counts["retried_sent"] += report.sent
        except Exception as exc:
            logger.error("alerts: retrying deliveries failed: %s", exc)

    def take_counts(self) -> dict[str, int]:
        """The counts since the last take."""
        taken = dict(self.counts)
        self.counts.clear()
        return taken
