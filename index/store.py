"""The Store protocol: what the pipelines, the CLI and later the web UI need of an index.

The SQLite store (``index/sqlite/``) and the Elasticsearch store (``index/elastic/``)
implement it, part by part; ``tests/test_store_conformance.py`` runs one suite against both.
Ads go in and come out as plain dicts with the fields of ``spiders.items.Ad``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from index.query import SearchQuery, SearchResult
from index.trends import Counts, TrendQuery

# The Ad fields every store keeps (spiders/items.py's Ad, less what only travels through
# the pipelines); one list, so a new field reaches both stores at once.
STORED_AD_FIELDS: tuple[str, ...] = tuple((
    "id source url site_id title text posted_at first_seen_at last_seen_at removed_at location poster age price "
    "currency phone_field images phones phone_details contacts towns town county lat lon road road_km language "
    "indicators indicator_score evidence content_hash version"
).split())


# An alert as stored (alerts/model.py builds them): its id is derived from its key, so a
# replay or a second crawl raising the same alert finds it instead of adding another.
ALERT_FIELDS: tuple[str, ...] = tuple(
    "id key rule kind phone ad town road km created_at details deliveries acked_at acked_by".split())


def waiting_channels(deliveries: dict[str, dict[str, Any]]) -> list[str]:
    """Channels an alert has not reached yet (pending or failed)."""
    return sorted(name for name, entry in deliveries.items() if entry.get("status") != "sent")


class StoreUnavailable(RuntimeError):
    """The store cannot take writes now (locked, down, disk full): retry later, keep the data."""


@dataclass(frozen=True)
class AdState:
    content_hash: str | None
    version: int
    first_seen_at: str | None


@dataclass(frozen=True)
class WriteOutcome:
    new: int
    updated: int
    # Numbers this write entered in the phone registry: decided atomically by the store, so
    # of two concurrent writers exactly one sees a number as new.
    new_phones: frozenset[str] = frozenset()
    # For each of them, the registry's first sighting: (ad id, first seen at).
    first_sightings: dict[str, tuple[str, str]] = field(default_factory=dict)


# The Store is made of parts with one job each; a backend implements every part, a new
# capability adds a part (and its section of tests/test_store_conformance.py), not methods
# to one interface. The data rules the parts keep are index/rules.py.


class AdStore(Protocol):
    """Ads: write, read, search, count, their versions and whether they are still listed."""

    def ad_states(self, ids: Iterable[str]) -> dict[str, AdState]: ...

    def known_ids(self, ids: Iterable[str]) -> set[str]: ...

    def write_ads(self, ads: Sequence[dict[str, Any]]) -> WriteOutcome:
        """Writes ads and enters their numbers in the phone registry, in one batch."""
        ...

    def touch(self, sightings: Sequence[tuple[str, str]]) -> int:
        """(ad id, seen_at) pairs: the ad was still listed; returns how many matched."""
        ...

    def mark_missing(self, source: str, listed: Iterable[str], seen_at: str, after: int) -> int:
        """After a crawl that walked every listing page of ``source``: ads it listed are
        present again; the others are missing once more, and after ``after`` complete crawls
        in a row they get ``removed_at`` (they stay searchable). Returns how many were removed now."""
        ...

    def get_ad(self, ad_id: str) -> dict[str, Any] | None: ...

    def ad_versions(self, ad_id: str) -> list[dict[str, Any]]: ...

    def search(self, query: SearchQuery) -> SearchResult: ...

    def trend_counts(self, query: TrendQuery) -> Counts:
        """Counts per (period start, town or county) for one metric (``index/trends.py``)."""
        ...


class PhoneRegistry(Protocol):
    """The phone registry: each number's first sighting, its ads and towns."""

    def phone_record(self, e164: str) -> dict[str, Any] | None: ...

    def phone_ads(self, e164: str) -> list[dict[str, Any]]: ...

    def phones_first_seen(self, since: str) -> list[dict[str, Any]]:
        """Registry entries of numbers first seen at or after ``since`` (alert replay)."""
        ...

    def phones_seen(self, since: str) -> list[str]:
        """Numbers in ads seen at or after ``since`` (alert replay)."""
        ...


class AlertStore(Protocol):
    """Alerts (alerts/): stored once per key, acknowledged, delivered per channel."""

    def add_alerts(self, alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store alerts whose key is not stored yet; returns those added now."""
        ...

    def alerts(self, since: str | None = None, rule: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Newest first."""
        ...

    def get_alert(self, alert_id: str) -> dict[str, Any] | None: ...

    def ack_alert(self, alert_id: str, by: str, at: str) -> bool: ...

    def set_delivery(self, alert_id: str, channel: str, delivery: dict[str, Any]) -> None: ...

    def undelivered_alerts(self, limit: int = 1000, after: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        """Alerts some channel has not received yet, oldest first; ``after``: the (created_at, id)
        of the last one of the previous page."""
        ...


class RunLog(Protocol):
    """Crawl runs: one record per crawl of a source."""

    def start_run(self, source: str, started_at: str) -> int: ...

    def finish_run(self, run_id: int, **fields: Any) -> None:
        """Sets fields of ``index.rules.RUN_FIELDS``; any other name is a ValueError."""
        ...

    def runs(self, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first; runs whose crawl is gone are marked crashed first (``mark_crashed``)."""
        ...

    def mark_crashed(self, source: str | None = None, holding: str | None = None) -> dict[int, dict[str, Any]]:
        """Runs still ``running`` whose crawl is gone become ``crashed`` (``index.rules.crashed``;
        ``holding``: the lock the caller holds); returns the fields set, per run id."""
        ...

    def first_finished_run(self, source: str) -> str | None:
        """When the source's first crawl that ended ok or partial finished (its baseline's end)."""
        ...


# One audit entry (issue 14): who did what, when, with which parameters and how many results,
# chained to the entry before it by hash (index/audit_chain.py computes and verifies the chain).
AUDIT_FIELDS: tuple[str, ...] = tuple("seq at user action params result_count prev_hash hash".split())


class AuditLog(Protocol):
    """The audit log: append-only, tamper-evident (each entry carries the hash of the one before)."""

    def audit_append(self, user: str, action: str, params: dict[str, Any], result_count: int | None,
                     at: str | None = None) -> dict[str, Any]:
        """Appends one entry at the end of the chain (``seq`` = previous + 1; concurrent writers
        never fork it) and returns it as stored. Raises StoreUnavailable when it cannot be written:
        the caller then refuses the request (nothing is shown that is not logged)."""
        ...

    def audit_entries(self, user: str | None = None, since: str | None = None, action: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Newest first (by ``seq``), filtered: ``user`` and ``action`` exactly, ``since`` an ISO time
        (``at >= since``); ``offset`` pages on. A store older than the log answers []."""
        ...

    def audit_chain(self, after_seq: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        """Entries with ``seq`` > ``after_seq`` in chain order, as stored (for verification:
        ``index.audit_chain.ChainVerifier`` checks them a page at a time)."""
        ...


class SavedSearchStore(Protocol):
    """Saved searches: an analyst's query, checked against every written batch of ads."""

    def save_search(self, owner: str, name: str, query: dict[str, Any], created_at: str) -> dict[str, Any]:
        """Stores ``query`` (``SearchQuery.to_dict()``); returns the record with its new ``id``."""
        ...

    def saved_searches(self, owner: str | None = None) -> list[dict[str, Any]]:
        """Oldest first; every owner's when ``owner`` is None."""
        ...

    def delete_saved_search(self, search_id: str, owner: str | None = None) -> bool:
        """Only the owner's own unless ``owner`` is None (an admin); False when none matched."""
        ...


# A legal hold (issue 15): a case's claim on ads that retention must not purge. ``kind`` says
# what was held: ``ad`` (the ads named), ``phone`` (every ad carrying the number, now and
# later, and its registry entry: ``value`` is the number), ``search`` (the ads a query
# matched when the hold was added: ``value`` is the query as typed, ``ads`` the snapshot).
# A released hold stays listed, with who released it and when.
HOLD_FIELDS: tuple[str, ...] = tuple("id case kind value ads by at released_by released_at".split())
HOLD_KINDS: tuple[str, ...] = ("ad", "phone", "search")


def hold_id() -> str:
    """A new hold's id: the real time in hex first, so holds stamped with the same (simulated)
    time still list in the order they were added; then random, so two writers never collide."""
    return f"{time.time_ns():016x}{uuid.uuid4().hex[:12]}"


class HoldStore(Protocol):
    """Legal holds: what a case keeps from purge, and their release."""

    def add_hold(self, case: str, kind: str, value: str, ads: Sequence[str], by: str, at: str) -> dict[str, Any]:
        """Stores a new active hold (``HOLD_FIELDS``, a fresh ``id``) and returns it."""
        ...

    def holds(self, case: str | None = None, active: bool | None = None) -> list[dict[str, Any]]:
        """Oldest first; ``active`` True: unreleased only, False: released only."""
        ...

    def release_holds(self, case: str, by: str, at: str) -> list[dict[str, Any]]:
        """Releases every active hold of ``case``; returns them as released (none: [])."""
        ...


class RetentionStore(Protocol):
    """What ``adwatch purge`` needs of a store (adwatch/retention/): find what expired, remove it
    by id, and keep the evidence references of the kept ads right when the archive is rewritten.

    Every removal is by id and idempotent (an id already gone is no error), so a purge that
    stopped half-way is finished by running it again."""

    def expired_ads(self, before: str) -> list[str]:
        """Ids of ads last seen before ``before``, oldest first."""
        ...

    def expired_versions(self, before: str) -> list[tuple[str, int]]:
        """(ad id, version) of replaced versions replaced before ``before``."""
        ...

    def purge_ads(self, ids: Sequence[str], before: str | None = None) -> int:
        """Removes these ads with every version, link and index row; the phone registry keeps each
        of their numbers' last sighting (``last_seen_at``). With ``before``, only those still last
        seen before it (a crawl that saw one again since the plan keeps it). Returns how many went."""
        ...

    def purge_versions(self, versions: Sequence[tuple[str, int]]) -> int: ...

    def orphan_phones(self, before: str) -> list[str]:
        """Registry entries no stored ad carries, last seen before ``before``."""
        ...

    def purge_phones(self, numbers: Sequence[str]) -> int: ...

    def expired_alerts(self, before: str) -> list[tuple[str, str | None, str | None]]:
        """(alert id, ad, phone) of alerts raised before ``before``."""
        ...

    def purge_alerts(self, ids: Sequence[str]) -> int: ...

    def expired_runs(self, before: str) -> list[int]:
        """Ids of finished crawl runs started before ``before`` (a running one is never expired)."""
        ...

    def purge_runs(self, ids: Sequence[int]) -> int: ...

    def expired_audit(self, before: str) -> tuple[int, str] | None:
        """(seq, hash) of the newest audit entry that may go: it and every entry before it are
        older than ``before`` (an entry stamped out of order stops the cut); None when none is."""
        ...

    def audit_purge(self, through: int, user: str, action: str, params: dict[str, Any],
                    result_count: int | None, at: str) -> dict[str, Any]:
        """Appends the purge's own entry (``params`` carries the anchor of what goes) and removes
        every entry with ``seq`` <= ``through`` (never the appended one): SQLite in one transaction;
        Elasticsearch appends first and removes oldest first, so a crash leaves a chain that still
        verifies and a rerun removes the rest. Returns the appended entry."""
        ...

    def evidence_refs(self) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
        """(ad id, version or None for the ad itself, evidence) of every stored ad and replaced
        version that has an ``evidence`` dict."""
        ...

    def relocate_evidence(self, ad_ids: Iterable[str], warc: str, moves: dict[int, tuple[str, int]]) -> int:
        """In the evidence of these ads and their versions, every record reference into file
        ``warc`` at an offset in ``moves`` now points to ``moves[offset]`` (file, offset).
        Compare-and-set: a reference changed meanwhile is left alone. Returns references changed."""
        ...


class StoreAdmin(Protocol):
    """The store as a whole: visibility of writes, a summary, closing."""

    def refresh(self) -> None:
        """Make every write visible to search now (Elasticsearch shows them within a second)."""
        ...

    def summary(self, top: int = 10) -> dict[str, Any]: ...

    def close(self) -> None: ...


class Store(AdStore, PhoneRegistry, AlertStore, RunLog, AuditLog, SavedSearchStore, HoldStore, RetentionStore,
            StoreAdmin, Protocol):
    """Every part: what the pipelines, the CLI and the scheduler open."""


# The parts, for tests and documentation (each is a Protocol above).
PARTS: tuple[type, ...] = (AdStore, PhoneRegistry, AlertStore, RunLog, AuditLog, SavedSearchStore, HoldStore,
                          RetentionStore, StoreAdmin)
