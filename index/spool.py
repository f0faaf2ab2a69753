"""A durable local queue for writes the store could not take (locked, full, unreachable).

Each failed batch becomes one JSON-lines file named by time and sequence, written
atomically (temp file + rename) and fsynced; ``replay`` applies them in order and
deletes each only after the store accepted it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Batch = list[dict[str, Any]]


class Spool:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._seq = 0

    def append(self, kind: str, batch: Batch) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        path = self.folder / f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.{kind}.jsonl"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for record in batch:
                out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
        return path

    @property
    def rejected_folder(self) -> Path:
        return self.folder / "rejected"

    def reject(self, kind: str, record: dict[str, Any], reason: str) -> Path:
        """Set one record aside, with the reason, for a person to look at (never replayed)."""
        self.rejected_folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        path = self.rejected_folder / f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.{kind}.json"
        path.write_text(json.dumps({"reason": reason, "record": record}, ensure_ascii=False, default=str),
                        encoding="utf-8")
        return path

    def pending(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.jsonl"))

    def replay(self, apply: Callable[[str, Batch], None]) -> int:
        """Apply pending batches oldest first; stop at the first failure (it stays queued).

        Crawls of several sources share a spool: one replays at a time (an ``flock`` on the
        folder), and the others leave it to that one instead of applying batches twice."""
        if not self.pending():
            return 0
        done = 0
        with (self.folder / ".replay.lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # another process is replaying right now
            for path in self.pending():
                kind = path.name.rsplit(".", 2)[-2]
                try:
                    lines = path.read_text(encoding="utf-8").splitlines()
                except FileNotFoundError:
                    continue  # replayed by a process that held the lock before us
                apply(kind, [json.loads(line) for line in lines if line.strip()])
                path.unlink(missing_ok=True)
                done += 1
        return done
