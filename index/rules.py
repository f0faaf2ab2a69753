"""The data rules every store keeps, written once: pure functions both backends call.

A backend decides how to read and write (SQL, bulk requests); what the stored values
become (versions, first and last sightings, the phone registry's first sighting, removal
marks, crawl-run fields) and when a store counts as unavailable is decided here, so the
SQLite and the Elasticsearch store cannot drift apart. ``pipelines/dedupe.py`` uses the
same version rule for what it passes on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Literal, NamedTuple

from index.store import AdState

# --- times -------------------------------------------------------------------------
# Timestamps are ISO 8601 UTC strings ("2026-11-01T10:00:00Z"): they sort as they read.


def earliest(*values: str | None) -> str | None:
    """The earliest of the timestamps given (empty ones do not count); None if there are none."""
    present = [v for v in values if v]
    return min(present) if present else None


def latest(*values: str | None) -> str | None:
    """The latest of the timestamps given (empty ones do not count); None if there are none."""
    present = [v for v in values if v]
    return max(present) if present else None


def seen_date(posted_at: str | None, first_seen_at: str | None) -> str | None:
    """The date search filters and orders by: when the ad says it was posted, else its first sighting."""
    return posted_at or first_seen_at


# --- versions ------------------------------------------------------------------------


class VersionStep(NamedTuple):
    """What a fetched ad is against what was known of it (dedupe's decision)."""

    outcome: Literal["new", "unchanged", "changed"]
    version: int
    first_seen_at: str


def version_step(previous: AdState | None, content_hash: str, seen_at: str) -> VersionStep:
    """An ad fetched at ``seen_at`` with ``content_hash``: never seen before is version 1,
    first seen now; the same content again keeps its version; new content is the next
    version. The first sighting never moves."""
    if previous is None:
        return VersionStep("new", 1, seen_at)
    first = previous.first_seen_at or seen_at
    if previous.content_hash == content_hash:
        return VersionStep("unchanged", previous.version, first)
    return VersionStep("changed", previous.version + 1, first)


class StoredVersion(NamedTuple):
    """What a store keeps when an ad it holds is written again."""

    version: int
    first_seen_at: str | None
    replaced: bool  # new content: the stored content becomes a kept version


def merge_version(stored: AdState, content_hash: str | None, version: int | None,
                  first_seen_at: str | None) -> StoredVersion:
    """The store's side of ``version_step``, for writes that could not ask it first (a spooled
    batch, a crawl while the store was down) and for one ad twice in a batch: the earliest
    first sighting wins, new content is at least the next version, a version never goes back."""
    replaced = stored.content_hash != content_hash
    known = int(stored.version or 1)
    return StoredVersion(max(int(version or 1), known + 1 if replaced else known),
                         earliest(stored.first_seen_at, first_seen_at), replaced)


def latest_sightings(sightings: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(ad id, seen at) pairs → each ad's latest sighting (``touch``: last seen only moves forward)."""
    out: dict[str, str] = {}
    for ad_id, seen_at in sightings:
        out[ad_id] = latest(out.get(ad_id), seen_at) or seen_at
    return out


def moved_forward(stored: Mapping[str, str | None], seen: Mapping[str, str]) -> dict[str, str]:
    """``stored``: the last sighting each stored ad has; ``seen``: each ad's latest sighting now.
    Returns the ads whose last sighting moves (forward only), and to when; ads not stored are left out."""
    return {ad_id: at for ad_id, at in seen.items() if ad_id in stored and latest(stored[ad_id], at) != stored[ad_id]}


# --- phone registry ----------------------------------------------------------------------


class Sighting(NamedTuple):
    """A number's first sighting as the registry keeps it: when, in which town and ad."""

    first_seen_at: str
    town: str | None
    ad: str
    county: str | None


def number_first_seen(first_seen_at: str | None, last_seen_at: str | None, ad_is_new: bool) -> str:
    """When an ad shows a number first: a new ad since its first sighting; a number an
    existing ad shows (a later edit can add one) since this sighting, not the ad's first."""
    seen = last_seen_at or first_seen_at or ""
    return earliest(first_seen_at if ad_is_new else seen, seen) or seen


def ad_sightings(ad: Mapping[str, Any], ad_is_new: bool) -> list[tuple[str, Sighting]]:
    """(number, sighting) for each distinct number of an ad as written (sorted)."""
    first = number_first_seen(ad.get("first_seen_at"), ad.get("last_seen_at"), ad_is_new)
    sighting = Sighting(first, ad.get("town"), ad["id"], ad.get("county"))
    return [(e164, sighting) for e164 in sorted(set(ad.get("phones") or []))]


def is_earlier(candidate: Sighting, entry: Sighting | None) -> bool:
    """Does ``candidate`` replace the registry's ``entry`` as the first sighting? Only a strictly
    earlier one does: of two at the same time, the one the registry holds stays."""
    return entry is None or not entry.first_seen_at or candidate.first_seen_at < entry.first_seen_at


def earliest_sightings(rows: Iterable[tuple[str, Sighting]]) -> dict[str, Sighting]:
    """Per number, its earliest sighting among ``rows`` (the first row on ties)."""
    firsts: dict[str, Sighting] = {}
    for e164, sighting in rows:
        if is_earlier(sighting, firsts.get(e164)):
            firsts[e164] = sighting
    return firsts


def first_sighting(entry: Sighting | None, candidate: Sighting) -> Sighting:
    """The registry's first sighting once ``candidate`` is known too (earliest wins, with its
    town, county and ad)."""
    if entry is None or is_earlier(candidate, entry):
        return candidate
    return entry


# --- removals ------------------------------------------------------------------------------


class Presence(NamedTuple):
    """An ad's place in its source's listings: complete crawls missed in a row, when removed."""

    missing_count: int
    removed_at: str | None


def presence_after_crawl(current: Presence, listed: bool, seen_at: str, after: int) -> Presence:
    """After a crawl that walked every listing page: a listed ad is present again; an unlisted
    one is missing once more, and removed at ``seen_at`` once ``after`` complete crawls in a row
    missed it (a removed ad stays removed, and searchable, until it is listed again)."""
    if listed:
        return Presence(0, None)
    if current.removed_at:
        return current
    missing = current.missing_count + 1
    return Presence(missing, seen_at if missing >= max(1, after) else None)


def removed_now(before: Presence, now: Presence) -> bool:
    """Did this crawl remove the ad (what ``mark_missing`` counts)?"""
    return not before.removed_at and bool(now.removed_at)


def presence_changes(ads: Iterable[tuple[str, Presence]], listed: Collection[str], seen_at: str,
                     after: int) -> tuple[dict[str, Presence], int]:
    """``mark_missing`` over a source's stored ads (id, presence): the presences to write (only
    those that change) and how many ads this crawl removed."""
    changes: dict[str, Presence] = {}
    removed = 0
    for ad_id, before in ads:
        now = presence_after_crawl(before, ad_id in listed, seen_at, after)
        if now != before:
            changes[ad_id] = now
            removed += removed_now(before, now)
    return changes, removed


# --- crawl runs ------------------------------------------------------------------------------

# The fields ``finish_run`` may set, and no others.
RUN_FIELDS: frozenset[str] = frozenset(
    {"finished_at", "status", "pages", "new_ads", "updated_ads", "removed_ads", "errors", "reason", "stats"})


def new_run(source: str, started_at: str) -> dict[str, Any]:
    """A crawl run as ``start_run`` makes it: running, nothing counted yet."""
    return {"source": source, "started_at": started_at, "status": "running", "pages": 0, "new_ads": 0,
            "updated_ads": 0, "removed_ads": 0, "errors": 0, "reason": None, "stats": {}}


def run_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields ``finish_run`` was given, refused whole if any is not a crawl-run field."""
    unknown = set(fields) - RUN_FIELDS
    if unknown:
        raise ValueError(f"unknown crawl run fields: {sorted(unknown)}")
    return dict(fields)


# A run still marked ``running`` whose crawl is gone (killed with SIGKILL, out of memory, the
# machine stopped): nothing will ever finish it, so the next look marks it ``crashed``.
CRASHED = "crashed"
# In a running run's stats: the crawl that runs it (machine, pid) and the path of the source
# lock it holds; written by the crawl-run recorder right after ``start_run``.
OWNER_STAT = "adwatch/owner"


class RunOwner(NamedTuple):
    host: str
    pid: int
    lock: str


def owner_stats(owner: RunOwner) -> dict[str, Any]:
    """The stats a crawl gives its run while it runs, so that any later look can tell it is gone."""
    return {OWNER_STAT: owner._asdict()}


def run_owner(run: Mapping[str, Any]) -> RunOwner | None:
    """The crawl a run says runs it, or None (not written yet, or a run of an older adwatch)."""
    raw = (run.get("stats") or {}).get(OWNER_STAT)
    if not isinstance(raw, Mapping):
        return None
    try:
        return RunOwner(str(raw["host"]), int(raw["pid"]), str(raw["lock"]))
    except (KeyError, TypeError, ValueError):
        return None


def crashed(run: Mapping[str, Any], host: str, lock_free: Callable[[str], bool],
            holding: str | None = None) -> bool:
    """Did the crawl of a run still marked ``running`` end without finishing it?

    A crawl holds its source's lock from before ``start_run`` until after its run is finished,
    so a free lock means its crawl is gone. Only this machine's locks can be probed: a run of
    another machine (one Elasticsearch, several crawlers) or one that names no lock is left
    alone. ``holding``: the lock the caller itself holds, as a crawl of the run's source does
    before it starts its own run; a run under that lock, or one naming none, is then a leftover."""
    if run.get("status") != "running":
        return False
    owner = run_owner(run)
    if owner is None:
        return holding is not None
    if owner.host != host:
        return False
    return owner.lock == holding or lock_free(owner.lock)


def crashed_fields(found_at: str) -> dict[str, Any]:
    """What a crashed run becomes (when it ended is unknown, so ``finished_at`` stays empty)."""
    return {"status": CRASHED,
            "reason": f"the crawl ended without finishing its run (killed, or its machine stopped); found {found_at}"}


# --- availability ----------------------------------------------------------------------------


def unavailable(status: int | None) -> bool:
    """An HTTP status that means "the store cannot take this now, retry later, keep the data"
    (overloaded: 429, or failing: 5xx), as opposed to a refusal of the data itself (4xx)."""
    return status is not None and (status >= 500 or status == 429)


# --- retention (issue 15) -----------------------------------------------------------------------
def relocated(evidence: Any, warc: str, moves: dict[int, tuple[str, int]]) -> tuple[Any, int]:
    """An ad's (or version's) ``evidence`` after the archive moved records out of ``warc``: each
    reference (the response, flat, and each ``related``) into ``warc`` at an offset in ``moves``
    points to its new (file, offset). Returns (evidence, references changed); 0 leaves it as it was."""
    if not isinstance(evidence, dict) or "record_id" not in evidence:
        return evidence, 0
    changed = 0

    def moved(ref: dict[str, Any]) -> dict[str, Any]:
        nonlocal changed
        if ref.get("warc") != warc:
            return ref
        try:
            target = moves.get(int(ref.get("offset")))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return ref
        if target is None:
            return ref
        changed += 1
        return ref | {"warc": target[0], "offset": target[1]}

    out = moved(dict(evidence))
    related = evidence.get("related")
    if isinstance(related, list):
        out["related"] = [moved(dict(r)) if isinstance(r, dict) else r for r in related]
    return (out, changed) if changed else (evidence, 0)

