"""``adwatch purge``: remove what is past retention, except what a legal hold keeps.

The order is chosen so that a crash at any point loses nothing that had not expired, and a second
run finishes the work (every step is by id and idempotent):

0. An archive rewrite an earlier run left half-done is finished or undone (its journal).
1. The plan: what expired per class (``policy.Cutoffs``), less what the active holds keep. Its ids
   are written to a 0600 plan file and a ``purge.start`` audit entry names it (and its SHA-256):
   even a run that dies half-way has said what it set out to remove.
2. Replaced versions past the cut-off, then expired ads with their versions, links and index rows
   (the registry keeps each number's last sighting).
3. Registry entries no ad carries any more, last seen before the registry's cut-off (never sooner
   than the alerts' look-back: ``policy.RetentionPolicy.lookback``).
4. Alerts, crawl runs.
5. The archive: records no kept ad or version points to, fetched before the evidence cut-off
   (``adwatch/evidence/prune.py``). After the store's removals, so a crash between the two only
   leaves records that the next run removes — never a kept ad without its records.
6. The report (ids, counts: never contents) as a 0600 file, and the ``purge`` audit entry with the
   counts and the report's SHA-256; if audit entries expired, that same entry carries the anchor
   (``SEQ:HASH``) of the last one removed and the removal happens with it (``Store.audit_purge``),
   so ``adwatch audit verify`` starts from the first kept entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from adwatch.core.clock import iso
from adwatch.core.private import ensure_private_dir, open_private
from adwatch.evidence.prune import PruneResult, prune
from adwatch.evidence.refs import ArchivePlace
from adwatch.retention.holds import Held, held
from adwatch.retention.policy import Cutoffs, RetentionPolicy
from index.query import SearchQuery
from index.store import Store

REPORT_DIR = "purge"  # under ADWATCH_HOME
_IDS_PER_SEARCH = 1000


@dataclass
class Plan:
    cutoffs: Cutoffs
    ads: list[str] = field(default_factory=list)
    versions: list[tuple[str, int]] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    audit: tuple[int, str] | None = None  # through (seq, hash)
    audit_from: int | None = None
    held_ads: int = 0
    held_phones: int = 0
    holds: int = 0

    def ids(self) -> dict[str, Any]:
        return {"ads": self.ads, "versions": [f"{a}:{n}" for a, n in self.versions], "phones": self.phones,
                "alerts": self.alerts, "runs": self.runs,
                "audit": {"from": self.audit_from, "through": self.audit[0]} if self.audit else None}

    def counts(self) -> dict[str, int]:
        audit = self.audit[0] - (self.audit_from or 1) + 1 if self.audit else 0
        return {"ads": len(self.ads), "versions": len(self.versions), "phones": len(self.phones),
                "alerts": len(self.alerts), "runs": len(self.runs), "audit": audit}


@dataclass
class Outcome:
    plan: Plan
    removed: dict[str, int] = field(default_factory=dict)
    evidence: PruneResult = field(default_factory=PruneResult)
    report: str | None = None
    report_sha256: str | None = None
    entry: dict[str, Any] | None = None

    def to_dict(self, dry_run: bool) -> dict[str, Any]:
        evidence = self.evidence.to_dict()
        counts = self.plan.counts() if dry_run else self.removed
        return {"dry_run": dry_run, "cutoffs": self.plan.cutoffs.to_dict(),
                "held": {"holds": self.plan.holds, "ads": self.plan.held_ads, "phones": self.plan.held_phones},
                "counts": counts | {"evidence_records": len(evidence["records"]),
                                    "evidence_files_removed": len(evidence["removed_files"]),
                                    "evidence_files_rewritten": len(evidence["rewritten"])},
                "ids": self.plan.ids() | {"evidence_records": evidence["records"]},
                "evidence": {k: evidence[k] for k in ("rewritten", "removed_files", "bytes_freed", "problems",
                                                      "recovered")},
                "report": self.report, "report_sha256": self.report_sha256,
                "audit_entry": self.entry["seq"] if self.entry else None}


def plan(store: Store, policy: RetentionPolicy, now: datetime) -> Plan:
    """What would go now (nothing changes)."""
    cut = policy.cutoffs(now)
    keep: Held = held(store)
    out = Plan(cutoffs=cut, held_ads=len(keep.ads), held_phones=len(keep.phones), holds=keep.holds)
    out.ads = [i for i in store.expired_ads(cut.ads) if i not in keep.ads]
    going = set(out.ads)
    # Versions of ads that go, go with them; held ads keep every version.
    out.versions = [(a, n) for a, n in store.expired_versions(cut.ads) if a not in keep.ads and a not in going]
    out.phones = sorted(_orphans_after(store, out.ads, cut.registry) - keep.phones)
    out.alerts = [i for i, ad, phone in store.expired_alerts(cut.alerts)
                  if ad not in keep.ads and phone not in keep.phones]
    out.runs = store.expired_runs(cut.runs)
    out.audit = store.expired_audit(cut.audit)
    if out.audit is not None:
        first = store.audit_chain(after_seq=0, limit=1)
        out.audit_from = int(first[0]["seq"]) if first else None
    return out


def _orphans_after(store: Store, going: list[str], before: str) -> set[str]:
    """Registry entries no ad will carry once ``going`` is gone, last seen before ``before``."""
    orphans = set(store.orphan_phones(before))
    gone = set(going)
    numbers: set[str] = set()
    for start in range(0, len(going), _IDS_PER_SEARCH):
        chunk = going[start : start + _IDS_PER_SEARCH]
        hits = store.search(SearchQuery(ids=chunk, limit=len(chunk), facets=False)).hits
        numbers.update(p for hit in hits for p in hit.get("phones") or [])
    for e164 in sorted(numbers - orphans):
        record = store.phone_record(e164)
        if record is None or not str(record.get("last_seen_at") or "") < before:
            continue
        if all(ad["id"] in gone for ad in store.phone_ads(e164)):
            orphans.add(e164)
    return orphans


def run(store: Store, policy: RetentionPolicy, now: datetime, home: Path, place: ArchivePlace, user: str,
        dry_run: bool = False) -> Outcome:
    """Purge (see the module text); with ``dry_run`` only the plan and what the archive would lose."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    if dry_run:
        the_plan = plan(store, policy, now)
        return Outcome(the_plan, evidence=prune(store, place, the_plan.cutoffs.evidence, stamp, dry_run=True,
                                                going_ads=set(the_plan.ads), going_versions=set(the_plan.versions)))
    from adwatch.evidence.prune import recover

    recovered = recover(store, place)  # 0: before the plan, so the references it reads are whole
    the_plan = plan(store, policy, now)  # 1
    folder = ensure_private_dir(home / REPORT_DIR)
    plan_name, plan_sha = _write_report(folder / f"purge-{stamp}.plan.json",
                                        {"at": iso(now), "cutoffs": the_plan.cutoffs.to_dict(),
                                         "planned": the_plan.ids()})
    store.audit_append(user, "purge.start", {"planned": the_plan.counts(), "plan": _rel(home, plan_name),
                                            "plan_sha256": plan_sha}, sum(the_plan.counts().values()), iso(now))
    outcome = Outcome(the_plan)
    removed = outcome.removed
    removed["versions"] = store.purge_versions(the_plan.versions)  # 2
    removed["ads"] = store.purge_ads(the_plan.ads, the_plan.cutoffs.ads)
    store.refresh()
    keep = held(store)  # 3: after the ads went, a number no ad carries any more may go
    phones = [e164 for e164 in store.orphan_phones(the_plan.cutoffs.registry) if e164 not in keep.phones]
    removed["phones"] = store.purge_phones(phones)
    the_plan.phones = phones
    removed["alerts"] = store.purge_alerts(the_plan.alerts)  # 4
    removed["runs"] = store.purge_runs(the_plan.runs)
    store.refresh()
    outcome.evidence = prune(store, place, the_plan.cutoffs.evidence, stamp)  # 5
    if recovered and not outcome.evidence.recovered:
        outcome.evidence.recovered = recovered
    removed["audit"] = the_plan.counts()["audit"]
    report = {"at": iso(now), "by": user, "cutoffs": the_plan.cutoffs.to_dict(),
              "removed": the_plan.ids() | {"evidence": outcome.evidence.to_dict()},
              "counts": removed, "plan": _rel(home, plan_name)}
    name, sha = _write_report(folder / f"purge-{stamp}.json", report)  # 6
    outcome.report, outcome.report_sha256 = _rel(home, name), sha
    params: dict[str, Any] = {"counts": removed | {"evidence_records": len(outcome.evidence.records),
                                                   "evidence_files_removed": len(outcome.evidence.removed_files),
                                                   "evidence_files_rewritten": len(outcome.evidence.rewritten)},
                              "cutoffs": the_plan.cutoffs.to_dict(), "report": outcome.report, "report_sha256": sha,
                              "held": {"holds": the_plan.holds, "ads": the_plan.held_ads,
                                       "phones": the_plan.held_phones}}
    total = sum(v for v in params["counts"].values())
    if the_plan.audit is not None:
        through, digest = the_plan.audit
        params["audit"] = {"from": the_plan.audit_from, "through": through, "anchor": f"{through}:{digest}"}
        outcome.entry = store.audit_purge(through, user, "purge", params, total, iso(now))
    else:
        outcome.entry = store.audit_append(user, "purge", params, total, iso(now))
    return outcome


def _write_report(path: Path, body: dict[str, Any]) -> tuple[Path, str]:
    """A 0600 file, fsynced, never overwritten (a second purge in the same second gets -2 …)."""
    data = json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    candidate, n = path, 1
    while True:
        try:
            fd = open_private(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            break
        except FileExistsError:
            n += 1
            candidate = path.with_name(path.name.replace(".json", f"-{n}.json", 1))
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return candidate, hashlib.sha256(data).hexdigest()


def _rel(home: Path, path: Path) -> str:
    try:
        return str(path.relative_to(home))
    except ValueError:
        return str(path)
