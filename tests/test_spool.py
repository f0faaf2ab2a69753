"""The spool several crawls share: one replays at a time, and a file gone meanwhile is no error."""

from __future__ import annotations

import fcntl
from pathlib import Path

from index.spool import Batch, Spool


def test_one_replayer_at_a_time_and_each_batch_once(tmp_path: Path) -> None:
    first, second = Spool(tmp_path / "s"), Spool(tmp_path / "s")
    for n in range(3):
        first.append("ads", [{"id": f"a{n}"}])
    applied: list[str] = []

    def apply(kind: str, batch: Batch) -> None:
        applied.extend(r["id"] for r in batch)

    with (tmp_path / "s" / ".replay.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert second.replay(apply) == 0 and applied == []  # someone else is at it: leave it
    assert second.replay(apply) == 3 and applied == ["a0", "a1", "a2"]
    assert first.replay(apply) == 0 and applied == ["a0", "a1", "a2"]  # never twice


def test_a_batch_replayed_elsewhere_meanwhile_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    paths = [spool.append("ads", [{"id": f"a{n}"}]) for n in range(2)]
    applied: list[str] = []

    def apply(kind: str, batch: Batch) -> None:
        applied.extend(r["id"] for r in batch)
        paths[1].unlink(missing_ok=True)  # as if another process had just written and removed it

    assert spool.replay(apply) == 1 and applied == ["a0"] and spool.pending() == []
