"""A durable local queue for writes the store could not take (locked, full, unreachable).

Each failed batch becomes one JSON-lines file named by time and sequence, written
atomically (temp file + rename) and fsynced; ``replay`` applies them in order and
deletes each only after the store accepted it.

The folder is 0700 and its files 0600 (``adwatch/core/private.py``): they hold ads. A spool
that cannot be written (disk full, file-size limit, read-only) raises ``SpoolError`` and
leaves no partial file behind; a ``*.tmp`` left by a process killed while writing is removed
when the spool is next opened for writing or replay (a rename is the commit: a temp file
never renamed was never promised to anyone, and its batch was reported as not stored).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adwatch.core.private import ensure_private_dir, open_private

logger = logging.getLogger(__name__)

Batch = list[dict[str, Any]]


class SpoolError(OSError):
    """A batch could not be put in the spool (disk full, file-size limit, read-only folder)."""


def _abandoned(tmp: Path) -> bool:
    """Left by a writer that is gone (its pid is the name's second part) or stuck for a minute."""
    try:
        age = time.time() - tmp.stat().st_mtime
        pid = int(tmp.name.split("-")[1])
    except (OSError, ValueError, IndexError):
        return True
    if age > 60:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False  # a live process (this one too) is still writing it


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


class Spool:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._seq = 0
        self._swept = False

    def _ready(self) -> None:
        """The folder exists and is private; leftovers of a killed writer are gone (once per Spool)."""
        ensure_private_dir(self.folder)
        if not self._swept:
            self._swept = True
            self.sweep()

    def sweep(self) -> int:
        """Deal with ``*.tmp`` files a writer left when it was killed: a complete one (every line
        whole JSON) becomes the batch it was meant to be; the whole lines of a torn one are kept
        as a batch and the torn line dropped; in ``rejected/``, a torn record is removed. A temp
        file whose writer is alive (its pid is in the name) and younger than a minute is left
        alone. Returns how many were dealt with; one warning line says what happened."""
        recovered = dropped = 0
        for folder, suffix in ((self.folder, ".jsonl"), (self.rejected_folder, ".json")):
            if not folder.is_dir():
                continue
            for tmp in sorted(folder.glob("*.tmp")):
                if not _abandoned(tmp):
                    continue
                try:
                    data = tmp.read_bytes()
                except FileNotFoundError:
                    continue
                if suffix == ".json":  # a rejected record: one JSON document, whole or not at all
                    keep, torn = (data, False) if _is_json(data) else (b"", True)
                else:
                    lines = data.split(b"\n")
                    whole = [line for line in lines[:-1] if _is_json(line)]
                    keep = b"".join(line + b"\n" for line in whole)
                    torn = lines[-1] != b"" or len(whole) < len(lines) - 1
                if keep and data.startswith(keep):  # the torn part is the tail: cut it off, keep the rest
                    with tmp.open("r+b") as handle:
                        handle.truncate(len(keep))
                        os.fsync(handle.fileno())
                    tmp.replace(tmp.with_suffix(suffix))
                    recovered += 1
                else:
                    tmp.unlink(missing_ok=True)
                dropped += torn
        if recovered or dropped:
            logger.warning("spool %s: %d unfinished batch files left by a stopped process recovered, %d torn "
                           "(their whole records kept)", self.folder, recovered, dropped)
        return recovered + dropped

    def _write_new(self, path: Path, text: str) -> None:
        """Write ``path`` atomically (temp + fsync + rename), 0600; SpoolError, and no file, on failure."""
        tmp = path.with_suffix(".tmp")
        try:
            fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            tmp.replace(path)
        except OSError as exc:
            raise SpoolError(exc.errno, f"cannot write to the spool {self.folder}: {exc.strerror or exc}") from exc

    def append(self, kind: str, batch: Batch) -> Path:
        try:
            self._ready()
        except OSError as exc:
            raise SpoolError(exc.errno, f"cannot write to the spool {self.folder}: {exc.strerror or exc}") from exc
        self._seq += 1
        path = self.folder / f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.{kind}.jsonl"
        self._write_new(path, "".join(json.dumps(record, ensure_ascii=False, default=str) + "\n"
                                      for record in batch))
        return path

    @property
    def rejected_folder(self) -> Path:
        return self.folder / "rejected"

    def reject(self, kind: str, record: dict[str, Any], reason: str) -> Path:
        """Set one record aside, with the reason, for a person to look at (never replayed)."""
        try:
            self._ready()
            ensure_private_dir(self.rejected_folder)
        except OSError as exc:
            raise SpoolError(exc.errno, f"cannot write to the spool {self.folder}: {exc.strerror or exc}") from exc
        self._seq += 1
        path = self.rejected_folder / f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.{kind}.json"
        self._write_new(path, json.dumps({"reason": reason, "record": record}, ensure_ascii=False, default=str))
        return path

    def pending(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.jsonl"))

    def replay(self, apply: Callable[[str, Batch], None]) -> int:
        """Apply pending batches oldest first; stop at the first failure (it stays queued).

        Crawls of several sources share a spool: one replays at a time (an ``flock`` on the
        folder), and the others leave it to that one instead of applying batches twice. A killed
        writer's leftovers are dealt with first (``sweep``): a whole batch among them is replayed."""
        if self.folder.is_dir():
            self._ready()
        if not self.pending():
            return 0
        done = 0
        with os.fdopen(open_private(self.folder / ".replay.lock"), "a") as lock:
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
