"""Deliver stored alerts to their channels, record every attempt, retry what failed.

An alert is stored before it is sent, with every channel it should reach marked
"pending"; each attempt's outcome is written back. A channel that is down leaves the
alert "failed" with a time for the next attempt (1 min, 2, 4 … up to an hour), and
``adwatch alerts deliver`` or the next crawl tries again: an alert is never lost
because a channel was down. Sending is at least once: if the store cannot record a
success, the alert is sent again later. A channel that points where alerts must not go
(``alerts/channel_policy.py``) is refused at send time too: nothing is sent, the delivery
is "failed" with the reason, and it waits for the config to be fixed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from adwatch.core.clock import iso, now_iso, utcnow
from alerts.notifiers import DeliveryFailed, DeliveryRefused, Notifier
from config.alerts_schema import AlertsConfig
from index.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)
MAX_DELAY = timedelta(hours=1)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    waiting: int = 0  # not tried now: not due yet, channel down this run, or not configured
    errors: list[str] = field(default_factory=list)


def next_attempt(attempts: int) -> str:
    return iso(utcnow() + min(MAX_DELAY, timedelta(minutes=2 ** max(0, attempts - 1))))


class Dispatcher:
    def __init__(self, store: Store, notifiers: dict[str, Notifier], config: AlertsConfig,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.notifiers = notifiers
        self.config = config
        self.sleep = sleep
        self.down: set[str] = set()  # channels that failed during this run: not tried again until the next

    def _policy(self, channel: str) -> tuple[int, float]:
        settings = self.config.channels.get(channel)
        return int(getattr(settings, "retries", 0)), float(getattr(settings, "backoff", 0.0))

    def _attempt(self, notifier: Notifier, alert: dict[str, Any], tries: int, backoff: float) -> tuple[int, str | None]:
        """Send with up to ``tries`` attempts, backing off between them: (attempts, error or None)."""
        error = None
        for n in range(tries):
            if n:
                self.sleep(backoff * 2 ** (n - 1))
            try:
                notifier.send(alert)
                return n + 1, None
            except DeliveryRefused as exc:  # the channel's config must change first: no retry now
                return n + 1, str(exc)
            except DeliveryFailed as exc:
                error = str(exc)
            except Exception as exc:  # a notifier bug must not stop the others
                error = f"{type(exc).__name__}: {exc}"
        return tries, error

    def deliver(self, alerts: Iterable[dict[str, Any]], *, patient: bool = True, due_only: bool = False,
                only: set[str] | None = None) -> DeliveryReport:
        """Send every waiting delivery of these alerts. ``patient``: retry with backoff now
        (the CLI); otherwise one attempt each (inside a crawl, which must not stall)."""
        report = DeliveryReport()
        now = now_iso()
        for alert in alerts:
            for channel, entry in sorted((alert.get("deliveries") or {}).items()):
                if entry.get("status") == "sent" or (only and channel not in only):
                    continue
                notifier = self.notifiers.get(channel)
                if notifier is None or channel in self.down or (
                        due_only and entry.get("next_attempt_at") and entry["next_attempt_at"] > now):
                    report.waiting += 1
                    continue
                retries, backoff = self._policy(channel)
                tried, error = self._attempt(notifier, alert, 1 + retries if patient else 1, backoff)
                attempts = int(entry.get("attempts") or 0) + tried
                moment = now_iso()
                if error is None:
                    updated = {"status": "sent", "attempts": attempts, "sent_at": moment, "last_attempt_at": moment}
                    report.sent += 1
                else:
                    updated = {"status": "failed", "attempts": attempts, "last_error": error,
                               "last_attempt_at": moment, "next_attempt_at": next_attempt(attempts)}
                    report.failed += 1
                    report.errors.append(f"{channel}: {error}")
                    self.down.add(channel)
                    logger.error("alerts: %s not delivered to %s (%s); kept for retry", alert["id"], channel, error)
                alert.setdefault("deliveries", {})[channel] = updated
                try:
                    self.store.set_delivery(alert["id"], channel, updated)
                except StoreUnavailable as exc:  # still pending in the store: it will be sent again
                    logger.error("alerts: could not record delivery of %s to %s: %s", alert["id"], channel, exc)
        return report

    def retry_waiting(self, *, patient: bool = True, due_only: bool = True, page: int = 500) -> DeliveryReport:
        """Every alert still waiting for a channel, page by page (so old ones that wait for a
        channel no longer configured cannot hide newer ones)."""
        total = DeliveryReport()
        unknown: dict[str, int] = {}
        after: tuple[str, str] | None = None
        while True:
            batch = self.store.undelivered_alerts(limit=page, after=after)
            if not batch:
                break
            for alert in batch:
                for channel, entry in (alert.get("deliveries") or {}).items():
                    if entry.get("status") != "sent" and channel not in self.notifiers:
                        unknown[channel] = unknown.get(channel, 0) + 1
            report = self.deliver(batch, patient=patient, due_only=due_only)
            total.sent += report.sent
            total.failed += report.failed
            total.waiting += report.waiting
            total.errors += report.errors
            after = (str(batch[-1]["created_at"]), str(batch[-1]["id"]))
        total.errors += [f"{channel}: not configured or not usable (see 'adwatch alerts check'); {n} alerts wait for it"
                         for channel, n in sorted(unknown.items())]
        return total
