"""One crawl per source at a time: ``ADWATCH_HOME/locks/SOURCE.lock``.

The lock is an ``flock``: the kernel drops it when the process dies, so a crash never
leaves it stale. ``SourceLock`` is the Scrapy extension that takes it for every crawl,
``adwatch crawl``, ``adwatch schedule`` and ``scrapy crawl`` alike; the scheduler asks
``is_locked`` before it starts a crawl.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

BUSY_REASON = "source_busy"  # the close reason of a crawl refused because its source is locked
LOCK_ERROR_REASON = "lock_error"  # the lock file could not be taken (folder not writable…)
BUSY_STAT = "adwatch/lock/busy"  # set on a refused crawl: the crawl-run recorder records no run for it


class SourceBusy(RuntimeError):
    @classmethod
    def of(cls, sources: list[str]) -> SourceBusy:
        return cls("; ".join(f"{source}: another crawl of this source is running" for source in sources))


def _lock_path(home: str | Path, source: str) -> Path:
    folder = Path(home) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{source}.lock"


def acquire(home: str | Path, source: str) -> IO[str]:
    """Take the source's lock (held until the returned file is closed), or raise SourceBusy."""
    handle = _lock_path(home, source).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SourceBusy.of([source]) from None
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


def is_locked(home: str | Path, source: str) -> bool:
    try:
        with crawl_lock(home, source):
            return False
    except SourceBusy:
        return True


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
        assert crawler.stats is not None
        lock = cls(str(crawler.settings.get("ADWATCH_HOME")), crawler.stats)
        crawler.signals.connect(lock.spider_opened, signal=signals.spider_opened)
        # Held until the engine stops: after spider_closed the alerts and the crawl-run recorder
        # still write (removed ads, the run row), and the next crawl must not start meanwhile.
        crawler.signals.connect(lock.release, signal=signals.engine_stopped)
        return lock

    def spider_opened(self, spider: Spider) -> None:
        try:
            self.handle = acquire(self.home, spider.name)
        except SourceBusy as exc:
            self.stats.set_value(BUSY_STAT, 1)
            logger.error("%s", exc)
            raise CloseSpider(BUSY_REASON) from None
        except OSError as exc:  # no lock, no crawl: two crawls of a source must never overlap
            self.stats.set_value(BUSY_STAT, 1)
            logger.error("%s: cannot take the source lock in %s/locks: %s", spider.name, self.home, exc)
            raise CloseSpider(LOCK_ERROR_REASON) from None

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def refused(stats: StatsCollector | None) -> bool:
    """The crawl was closed because another crawl of its source held the lock."""
    return bool(stats is not None and stats.get_value(BUSY_STAT))
