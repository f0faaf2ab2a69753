"""The audit log's hash chain: pure functions, no store (both stores and ``adwatch audit verify`` use them).

An entry is ``seq · at · user · action · params · result_count · prev_hash · hash``
(``index.store.AUDIT_FIELDS``). ``hash`` is the SHA-256 (hex) of the entry's canonical form:
the other seven fields as JSON with sorted keys, no whitespace, UTF-8. ``prev_hash`` is the
hash of the entry before it (64 zeros for the first), ``seq`` counts from 1 without gaps.

What the chain proves, and what it cannot:

- An entry edited in place (its hash left as it was) no longer matches its hash.
- An entry edited and re-hashed no longer matches the ``prev_hash`` of the one after it.
- A deleted entry leaves a gap in ``seq`` (and a ``prev_hash`` that names a missing entry).
- An inserted or reordered entry repeats or skips a ``seq`` and breaks a ``prev_hash``.
- A CUT TAIL (the newest entries deleted) leaves a shorter chain that is still sound, and
  anyone who rewrites every entry from some point on (recomputing every hash) makes a new
  sound chain: the chain alone cannot tell. So ``verify`` also takes an optional ANCHOR,
  the ``(seq, hash)`` of an entry recorded somewhere else — ``adwatch audit verify`` prints
  it on every run, for the operator to keep outside the store (a ticket, a printed report,
  another machine). The chain must still hold that entry, with that hash: a cut tail or a
  rewrite behind the anchor is then found. Only what came after the last recorded anchor is
  protected by the chain alone.
- RETENTION (issue 15): ``adwatch purge`` removes entries past ``ADWATCH_RETAIN_AUDIT`` from the
  head of the chain. Its own entry (action ``purge``, appended before the removal, in the chain
  and so hash-protected) records ``params.audit = {"from", "through", "anchor": "SEQ:HASH"}``: the
  last entry removed. ``verify`` then starts from that anchor (``PurgedHead``): the first kept
  entry must carry the anchor's hash as its ``prev_hash``. A head cut at some seq up to
  ``through`` (a purge stopped half-way on Elasticsearch) is accepted from its first entry on.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""

_SURROGATE = re.compile("[\ud800-\udfff]")

HASHED_FIELDS: tuple[str, ...] = ("seq", "at", "user", "action", "params", "result_count", "prev_hash")


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: its hashed fields as sorted-key JSON, UTF-8."""
    body = {name: entry.get(name) for name in HASHED_FIELDS}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                      default=str)
    # A lone surrogate (from a page or a request) cannot be UTF-8: written as \udXXX, still one
    # deterministic spelling. ``chained`` cleans strings first, so only an edited entry gets here.
    return text.encode("utf-8", errors="backslashreplace")


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 (hex) of the entry's canonical form."""
    try:
        return hashlib.sha256(canonical(entry)).hexdigest()
    except ValueError:  # a NaN written into an entry by hand: it cannot match any hash we made
        return "unhashable"


def plain(value: Any) -> Any:
    """``value`` as JSON gives it back after a store round trip: what is hashed is what is kept.

    Tuples and sets become lists, keys strings, a non-finite float or any other object its
    text, and text that is not valid UTF-8 (a lone surrogate) gets U+FFFD instead."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {plain(str(key)): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((plain(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    return plain(str(value))


def chained(prev: dict[str, Any] | None, user: str, action: str, params: dict[str, Any],
            result_count: int | None, at: str) -> dict[str, Any]:
    """The entry that follows ``prev`` (None: the first entry), with its hash."""
    entry: dict[str, Any] = {
        "seq": int(prev["seq"]) + 1 if prev else 1,
        "at": plain(str(at)),
        "user": plain(str(user)),
        "action": plain(str(action)),
        "params": plain(dict(params or {})),
        "result_count": None if result_count is None else int(result_count),
        "prev_hash": str(prev["hash"]) if prev else GENESIS,
    }
    entry["hash"] = entry_hash(entry)
    return entry


@dataclass(frozen=True)
class Problem:
    seq: int | str
    reason: str

    def line(self) -> str:
        return f"seq {self.seq}: {self.reason}"


@dataclass
class VerifyReport:
    checked: int = 0
    last_seq: int | None = None
    last_hash: str | None = None
    problems: list[Problem] = field(default_factory=list)
    start: str | None = None  # SEQ:HASH of the last entry a purge removed, where the chain starts

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def anchor(self) -> str | None:
        """``SEQ:HASH`` of the last entry: what to record elsewhere for the next verify."""
        return f"{self.last_seq}:{self.last_hash}" if self.last_seq is not None else None

    def lines(self) -> list[str]:
        return [problem.line() for problem in self.problems]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "last_seq": self.last_seq, "last_hash": self.last_hash,
                "anchor": self.anchor, "start": self.start,
                "problems": [{"seq": p.seq, "reason": p.reason} for p in self.problems]}


def parse_anchor(text: str) -> tuple[int, str]:
    """``"1234:9f86…"`` → (1234, "9f86…"); a ValueError that says what is wrong otherwise."""
    seq, sep, digest = text.strip().partition(":")
    digest = digest.strip().lower()
    if not sep or not seq.strip().isdigit() or int(seq) < 1 or len(digest) != 64 \
            or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"an anchor is SEQ:HASH (a number and 64 hex digits, as verify prints it), not {text!r}")
    return int(seq), digest


@dataclass(frozen=True)
class PurgedHead:
    """Entries up to ``through`` were removed by a purge whose entry (``by_seq``) recorded ``hash``."""

    through: int
    hash: str
    by_seq: int

    @property
    def anchor(self) -> str:
        return f"{self.through}:{self.hash}"


def purged_head(purge_entries: Iterable[dict[str, Any]], first_seq: int) -> PurgedHead | None:
    """The purge that explains a chain starting at ``first_seq`` > 1: among the ``purge`` entries,
    the one removing the most whose ``through`` reaches ``first_seq - 1``; None when none does."""
    best: PurgedHead | None = None
    for entry in purge_entries:
        audit = (entry.get("params") or {}).get("audit") if isinstance(entry.get("params"), dict) else None
        if not isinstance(audit, dict):
            continue
        try:
            through, digest = parse_anchor(str(audit.get("anchor")))
            by_seq = int(entry["seq"])
        except (ValueError, KeyError, TypeError):
            continue
        if through >= first_seq - 1 and by_seq > through and (best is None or through > best.through):
            best = PurgedHead(through, digest, by_seq)
    return best


class ChainVerifier:
    """Walks the chain in order, a page at a time (``add``), then ``finish`` gives the report.

    Every problem is one ``Problem`` (seq, reason); the walk never stops at the first one, and
    an entry in any shape (a field missing, a seq that is no number) is a problem, not a crash."""

    def __init__(self, anchor: tuple[int, str] | None = None, head: PurgedHead | None = None) -> None:
        self.anchor = anchor
        self.head = head
        self.report = VerifyReport(start=head.anchor if head else None)
        self._prev_seq = head.through if head else 0
        self._prev_hash = head.hash if head else GENESIS
        self._anchor_seen = False
        self._started = False

    def add(self, entries: Iterable[dict[str, Any]]) -> None:
        for entry in entries:
            self._check(entry)

    def _problem(self, seq: int | str, reason: str) -> None:
        self.report.problems.append(Problem(seq, reason))

    def _check(self, entry: dict[str, Any]) -> None:
        self.report.checked += 1
        seq, stored = entry.get("seq"), entry.get("hash")
        if not isinstance(seq, int) or isinstance(seq, bool):
            self._problem(repr(seq)[:40], f"malformed entry after seq {self._prev_seq}: its seq is no number")
            return
        if not self._started:
            self._started = True
            if self.head is not None and seq <= self.head.through:
                # A purge stopped before it removed all it meant to: the chain starts at its first entry.
                self._prev_seq, self._prev_hash = seq - 1, str(entry.get("prev_hash"))
        if seq <= self._prev_seq:
            what = ("a second entry with this seq" if seq == self._prev_seq
                    else f"out of order after seq {self._prev_seq}")
            self._problem(seq, f"{what} (inserted or reordered)")
            return
        computed = entry_hash(entry)
        if stored != computed:
            self._problem(seq, "edited: its contents do not match its hash")
        if seq > self._prev_seq + 1:
            gone = self._prev_seq + 1
            span = f"seq {gone}" if gone == seq - 1 else f"seq {gone} to {seq - 1}"
            self._problem(gone, f"deleted: {span} missing before seq {seq}")
        elif entry.get("prev_hash") != self._prev_hash:
            before = f"seq {self._prev_seq}" if self._prev_seq else "the start of the chain"
            self._problem(seq, f"its prev_hash does not match the hash of {before} "
                               "(that entry was rewritten, or one was removed or inserted between them)")
        if self.anchor is not None and seq == self.anchor[0]:
            self._anchor_seen = True
            if stored != self.anchor[1] or computed != self.anchor[1]:
                self._problem(seq, "differs from the anchor recorded earlier: the chain was rewritten up to here")
        self._prev_seq = seq
        self._prev_hash = str(stored)
        self.report.last_seq, self.report.last_hash = seq, str(stored)

    def finish(self) -> VerifyReport:
        if self.anchor is not None and not self._anchor_seen:
            last = self.report.last_seq or 0
            if last < self.anchor[0]:
                reason = (f"missing: the chain ends at seq {last}, before the anchor recorded earlier "
                          "(its newest entries were cut)")
            else:
                reason = "missing: the anchor's entry is gone"
            self._problem(self.anchor[0], reason)
        return self.report


def verify(entries_in_order: Iterable[dict[str, Any]], anchor: tuple[int, str] | None = None) -> VerifyReport:
    """Check a whole chain (oldest first); ``anchor``: (seq, hash) recorded elsewhere, see the module text."""
    verifier = ChainVerifier(anchor)
    verifier.add(entries_in_order)
    return verifier.finish()
