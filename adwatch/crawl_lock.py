"""One crawl per source at a time: ``ADWATCH_HOME/locks/SOURCE.lock``.

The lock is an ``flock``: the kernel drops it when the process dies, so a crash never
leaves it stale. ``SourceLock`` is the Scrapy extension that takes it for every crawl,
``adwatch crawl``, ``adwatch schedule`` and ``scrapy crawl`` alike; the scheduler asks
``is_locked`` before it starts a crawl. A free lock also tells that the crawl which
held it is gone: a run it left ``running`` crashed (``index.rules.crashed``, which
probes with ``lock_free``). The stores call ``lock_free``, so this module imports Scrapy
only where the extension needs it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

BUSY_REASON = "source_busy"  # the close reason of a crawl refused because its source is locked
LOCK_ERROR_REASON = "lock_error"  # the lock file could not be taken (folder not writable…)
BUSY_STAT = "adwatch/lock/busy"  # set on a refused crawl: the crawl-run recorder records no run for it
HELD_STAT = "adwatch/lock/held"  # the path of the lock this crawl holds (the recorder writes it into its run)
# A look at a lock (``lock_free``, ``is_locked``) holds it for an instant; a crawl starting at
# that instant tries again for this long before it calls the source busy.
START_PATIENCE = 0.25


class SourceBusy(RuntimeError):
    @classmethod
    def of(cls, sources: list[str]) -> SourceBusy:
        return cls("; ".join(f"{source}: another crawl of this source is running" for source in sources))


def lock_path(home: str | Path, source: str) -> Path:
    return Path(home) / "locks" / f"{source}.lock"


def acquire(home: str | Path, source: str, patience: float = 0.0) -> IO[str]:
    """Take the source's lock (held until the returned file is closed), or raise SourceBusy
    (after trying again for ``patience`` seconds)."""
    path = lock_path(home, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                raise SourceBusy.of([source]) from None
            time.sleep(0.02)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@contextmanager
def crawl_lock(home: str | Path, source: str) -> Iterator[None]:
    """Hold the source's lock for the duration, or raise SourceBusy."""
    handle = acquire(home, source)
    try:
        yield
    finally:
        handle.close()


def lock_free(path: str | Path) -> bool:
    """Nobody holds the lock file at ``path`` (a missing file is free; one that cannot be read
    counts as held: it cannot be told). The file is never changed. Also true, as flock works,
    for a lock this process holds through another open file: it is not free."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # conflicts with a crawl's exclusive lock
    except OSError:
        return False
    finally:
        os.close(fd)  # and so releases the shared lock at once
    return True


def is_locked(home: str | Path, source: str) -> bool:
    return not lock_free(lock_path(home, source))


def this_host() -> str:
    """The machine a crawl runs on: a lock file says something only about crawls on its own machine."""
    return socket.gethostname()


class SourceLock:
    """Takes the spider's source lock when it opens, releases it when the engine stops.

    It must come before the crawl-run recorder in EXTENSIONS: its ``spider_opened`` runs
    first, so a refused crawl is closed (reason ``source_busy``) without a run of its own.
    """

    def __init__(self, home: str, stats: StatsCollector) -> None:
        self.home = home
        self.stats = stats
        self.handle: IO[str] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SourceLock:
        from scrapy import signals

        assert crawler.stats is not None
        lock = cls(str(crawler.settings.get("ADWATCH_HOME")), crawler.stats)
        crawler.signals.connect(lock.spider_opened, signal=signals.spider_opened)
        # Held until the engine stops: after spider_closed the alerts and the crawl-run recorder
        # still write (removed ads, the run row), and the next crawl must not start meanwhile.
        crawler.signals.connect(lock.release, signal=signals.engine_stopped)
        return lock

    def spider_opened(self, spider: Spider) -> None:
        from scrapy.exceptions import CloseSpider

        try:
            self.handle = acquire(self.home, spider.name, START_PATIENCE)
        except SourceBusy as exc:
            self.stats.set_value(BUSY_STAT, 1)
            logger.error("%s", exc)
            raise CloseSpider(BUSY_REASON) from None
        except OSError as exc:  # no lock, no crawl: two crawls of a source must never overlap
            self.stats.set_value(BUSY_STAT, 1)
            logger.error("%s: cannot take the source lock in %s/locks: %s", spider.name, self.home, exc)
            raise CloseSpider(LOCK_ERROR_REASON) from None
        self.stats.set_value(HELD_STAT, str(lock_path(self.home, spider.name).resolve()))

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def refused(stats: StatsCollector | None) -> bool:
    """The crawl was closed because another crawl of its source held the lock."""
    return bool(stats is not None and stats.get_value(BUSY_STAT))
