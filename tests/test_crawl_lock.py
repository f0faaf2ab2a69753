"""The per-source lock is a Scrapy extension: `scrapy crawl SOURCE` takes it as `adwatch crawl` does."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from scrapy import Spider, signals
from scrapy.exceptions import CloseSpider
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from adwatch.crawl_lock import (
    HELD_STAT,
    SourceBusy,
    SourceLock,
    acquire,
    crawl_lock,
    is_locked,
    lock_free,
    lock_path,
    refused,
)
from adwatch.demo import DemoSite
from index.sqlite import SqliteStore
from pipelines.crawlrun import CrawlRunRecorder
from tests.conftest import ROOT


def scrapy_crawl(site: DemoSite, home: Path, source: str = "nightlist") -> subprocess.Popen[str]:
    env = {**os.environ, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"}
    env.pop("SCRAPY_SETTINGS_MODULE", None)
    return subprocess.Popen([sys.executable, "-m", "scrapy", "crawl", source, "-a", f"base_url={site.base_url}",
                             "-L", "INFO"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_scrapy_crawl_is_refused_while_another_crawl_holds_the_lock(demo_site: DemoSite, home: Path) -> None:
    with crawl_lock(home, "nightlist"):
        proc = scrapy_crawl(demo_site, home)
        _, stderr = proc.communicate(timeout=240)
    assert "nightlist: another crawl of this source is running" in stderr
    assert "'finish_reason': 'source_busy'" in stderr
    assert not any(path.startswith("/nl") for path in demo_site.hits)  # not one page fetched
    store = SqliteStore(home / "adwatch.db")
    assert store.runs("nightlist") == []  # a refused crawl is no run of its own
    store.close()


def test_scrapy_crawl_holds_the_lock_while_it_runs(home: Path) -> None:
    with DemoSite(seed=5, count=360) as site:
        proc = scrapy_crawl(site, home)
        deadline = time.monotonic() + 120
        while not any(path.startswith("/nl/listing.php") for path in site.hits):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the crawl fetched nothing"
            time.sleep(0.02)
        held = is_locked(home, "nightlist")
        running = proc.poll() is None
        _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr[-2000:]
    assert running and held  # checked while the crawl was still fetching
    assert not is_locked(home, "nightlist")  # released when the spider closed
    assert "'finish_reason': 'finished'" in stderr


def test_a_refused_crawl_is_closed_and_records_no_run(tmp_path: Path, store: SqliteStore) -> None:
    spider = Spider(name="annonsguiden")
    stats = MemoryStatsCollector(get_crawler(Spider))
    lock, recorder = SourceLock(str(tmp_path), stats), CrawlRunRecorder(store, stats)
    with crawl_lock(tmp_path, "annonsguiden"):
        with pytest.raises(CloseSpider) as closed:
            lock.spider_opened(spider)
        assert closed.value.reason == "source_busy"
        recorder.spider_opened(spider)
    assert refused(stats) and store.runs("annonsguiden") == []
    other = MemoryStatsCollector(get_crawler(Spider))
    free = SourceLock(str(tmp_path), other)
    free.spider_opened(spider)
    assert is_locked(tmp_path, "annonsguiden") and not refused(other)
    free.release()
    assert not is_locked(tmp_path, "annonsguiden")


def test_the_lock_is_held_until_the_engine_stops(tmp_path: Path) -> None:
    """After spider_closed the alerts and the crawl-run recorder still write: no second crawl
    of the source may start before the engine has stopped."""
    crawler = get_crawler(Spider, {"ADWATCH_HOME": str(tmp_path)})
    assert crawler.stats is not None
    lock = SourceLock.from_crawler(crawler)
    lock.spider_opened(Spider(name="nightlist"))
    crawler.signals.send_catch_log(signals.spider_closed, spider=None, reason="finished")
    assert is_locked(tmp_path, "nightlist")
    crawler.signals.send_catch_log(signals.engine_stopped)
    assert not is_locked(tmp_path, "nightlist")


def test_a_lock_that_cannot_be_taken_closes_the_crawl(tmp_path: Path) -> None:
    (tmp_path / "locks").write_text("a file where the locks folder should be")
    stats = MemoryStatsCollector(get_crawler(Spider))
    with pytest.raises(CloseSpider) as closed:
        SourceLock(str(tmp_path), stats).spider_opened(Spider(name="nightlist"))
    assert closed.value.reason == "lock_error" and refused(stats)


def test_run_crawls_reports_a_source_locked_after_the_cli_looked(demo_site: DemoSite, home: Path) -> None:
    # The CLI asks first; a crawl that takes the lock between that question and the start
    # is still refused by the extension, and run_crawls says so instead of reporting a run.
    script = ("from adwatch.crawl_lock import SourceBusy\nfrom adwatch.crawling import run_crawls\n"
              "from adwatch.settings import load_settings\n"
              "try:\n"
              "    run_crawls(load_settings({'LOG_LEVEL': 'ERROR'}), ['nightlist'],\n"
              f"               base_url={demo_site.base_url!r})\n"
              "except SourceBusy as exc:\n    print('busy:', exc)\n")
    env = {**os.environ, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"}
    with crawl_lock(home, "nightlist"):
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=240)
    assert "busy: nightlist: another crawl of this source is running" in result.stdout, result.stderr[-2000:]
    store = SqliteStore(home / "adwatch.db")
    assert store.runs("nightlist") == []
    store.close()


def test_a_look_at_a_lock_changes_nothing_and_a_starting_crawl_waits_out_a_look(tmp_path: Path) -> None:
    # `adwatch runs` and the scheduler look at locks (a shared flock for an instant): the look
    # must not write the file, and a crawl starting at that instant must not be refused as busy.
    handle = acquire(tmp_path, "nightlist")
    path = lock_path(tmp_path, "nightlist")
    before = path.read_text()
    assert not lock_free(path) and path.read_text() == before == f"{os.getpid()}\n"
    handle.close()
    assert lock_free(path) and lock_free(tmp_path / "locks" / "never.lock")
    with crawl_lock(tmp_path, "nightlist"):
        with pytest.raises(SourceBusy):
            acquire(tmp_path, "nightlist")  # no patience: busy at once
    brief = acquire(tmp_path, "nightlist")
    threading.Timer(0.1, brief.close).start()
    acquire(tmp_path, "nightlist", patience=5.0).close()  # waited for the brief holder


def test_the_recorder_names_its_crawl_and_marks_the_leftovers_of_its_source(tmp_path: Path,
                                                                            store: SqliteStore) -> None:
    leftover = store.start_run("annonsguiden", "2026-11-28T10:00:00Z")  # a crawl killed before: still "running"
    spider = Spider(name="annonsguiden")
    stats = MemoryStatsCollector(get_crawler(Spider))
    lock, recorder = SourceLock(str(tmp_path), stats), CrawlRunRecorder(store, stats)
    lock.spider_opened(spider)
    recorder.spider_opened(spider)
    held = str(lock_path(tmp_path, "annonsguiden").resolve())
    assert stats.get_value(HELD_STAT) == held
    current, old = store.runs("annonsguiden")
    assert current["id"] == recorder.run_id and current["status"] == "running"
    assert current["stats"]["adwatch/owner"] == {"host": os.uname().nodename, "pid": os.getpid(), "lock": held}
    assert old["id"] == leftover and old["status"] == "crashed"
    lock.release()  # this crawl ends without finishing its run, as after kill -9
    assert store.runs("annonsguiden")[0]["status"] == "crashed"
