"""A spool that cannot be written: nothing is lost in silence, the crawl stops and says so,
and what a killed writer left behind is recovered or removed at the next open."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from adwatch.demo import DemoSite
from index.spool import Batch, Spool, SpoolError
from index.sqlite import SqliteStore
from index.store import StoreUnavailable, WriteOutcome
from index.writer import NotStored, StoreWriter
from tests.conftest import ADWATCH, ROOT, html_sources_dir, run_adwatch

SOURCE_OF = {"annons": "annonsguiden", "nl": "nightlist"}
NOT_STORED_LINE = re.compile(r"records not stored: .*\[(?P<ids>[^\]]*)\]$")


def file_size_limit(limit: int) -> Callable[[], None]:
    """For ``preexec_fn``: writes past ``limit`` bytes fail with EFBIG, as on a full disk (SIGXFSZ
    ignored: its default action kills the process instead)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def spooled_ids(folder: Path) -> set[str]:
    return {json.loads(line)["id"] for path in folder.glob("*.ads.jsonl")
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def test_a_crawl_that_can_keep_nothing_stops_and_names_every_ad_it_lost(demo_site: DemoSite, home: Path) -> None:
    run_adwatch("index", "create", home=home, check=True)  # the schema fits; the batches will not
    env = {key: value for key, value in os.environ.items() if not key.startswith("ADWATCH_")}
    result = subprocess.run(
        [*ADWATCH, "crawl", "--all", "--base-url", demo_site.base_url, "--json"], capture_output=True, text=True,
        cwd=ROOT, timeout=240, preexec_fn=file_size_limit(60_000),
        env={**env, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error", "ADWATCH_SOURCES_DIR": html_sources_dir(),
             "ADWATCH_EVIDENCE": "off"})  # the size limit is for the store, not the archive
    assert result.returncode != 0, result.stderr[-2000:]
    reported: set[str] = set()
    for line in result.stderr.splitlines():
        found = NOT_STORED_LINE.search(line)
        if found:
            reported |= {ad_id.strip() for ad_id in found["ids"].split(",")}
    assert reported, result.stderr[-3000:]  # the fault did happen: some batch could be kept nowhere
    runs = json.loads(result.stdout)
    assert any(str(run["reason"] or "").startswith("not_stored") for run in runs), runs
    assert all(run["status"] != "ok" for run in runs if run["stats"].get("adwatch/store/not_stored")), runs
    spool = home / "adwatch.spool"
    assert not list(spool.glob("*.tmp")), "a failed spool write left its temp file"
    store = SqliteStore(home / "adwatch.db")  # the limit is gone: the file is whole
    stored = {row[0] for row in store.db.execute("SELECT id FROM ads")}
    store.close()
    kept = stored | spooled_ids(spool)
    assert not kept & reported, "an ad reported lost was kept after all"
    # Fetched whole: a flaky ad's first answer is a 503, and the crawl may stop before its retry.
    served = {f"{SOURCE_OF[ad.site]}:{ad.site_id}" for ad in demo_site.ads
              if ad.status != "gone" and demo_site.hits[ad.path] >= (2 if ad.status == "flaky" else 1)}
    assert served - kept - reported == set(), "ads fetched but neither stored, spooled nor reported"


class DownStore(SqliteStore):
    """Unavailable for every write (locked past the timeout, full)."""

    def write_ads(self, ads: Sequence[dict[str, Any]]) -> WriteOutcome:
        raise StoreUnavailable("locked")


def ads(*numbers: int) -> Batch:
    return [{"id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "title": "t", "text": "x",
             "first_seen_at": "2026-11-28T10:00:00Z", "last_seen_at": "2026-11-28T10:00:00Z",
             "content_hash": f"h{n}"} for n in numbers]


def test_a_batch_neither_store_nor_spool_takes_is_reported_never_dropped(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the spool's folder should be")
    store = DownStore(tmp_path / "w.db")
    writer = StoreWriter(store, Spool(tmp_path / "blocker" / "spool"))
    with pytest.raises(NotStored, match=r"2 ads records not stored: the store could not take it \(locked\)"):
        writer.flush([("ads", ads(1, 2))])
    assert writer.counts["not_stored"] == 2 and not writer.counts["spooled_batches"]
    told: list[str] = []
    writer.on_not_stored = told.append  # in a crawl: the spider is closed with this reason
    writer.flush([("ads", ads(3))])
    assert len(told) == 1 and "1 ads records not stored" in told[0] and "\n" not in told[0]
    store.close()


def test_a_spool_write_that_fails_leaves_no_temp_file(tmp_path: Path) -> None:
    """EFBIG half-way through a batch (ulimit -f): SpoolError, and nothing half-written stays."""
    folder = tmp_path / "spool"
    script = ("import sys; from index.spool import Spool, SpoolError\n"
              "try:\n    Spool(sys.argv[1]).append('ads', [{'id': 'a', 'text': 'x' * 100_000}])\n"
              "except SpoolError as exc:\n    print('SpoolError', exc.errno)\n")
    result = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, cwd=ROOT,
                            preexec_fn=file_size_limit(20_000), timeout=60)
    assert result.stdout.strip() == "SpoolError 27", result.stderr  # EFBIG
    assert list(folder.iterdir()) == []
    with pytest.raises(SpoolError):  # a folder that cannot be made: the same error, not a bare OSError
        (tmp_path / "file").write_text("")
        Spool(tmp_path / "file" / "spool").append("ads", ads(1))


def test_leftovers_of_a_killed_writer_are_recovered_or_removed_at_the_next_open(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    (folder / "rejected").mkdir(parents=True)
    dead = 2**22 + 12345  # above pid_max's default: no such process
    whole = "".join(json.dumps(r) + "\n" for r in ads(1, 2))
    (folder / f"00000000000000000001-{dead}-000001.ads.tmp").write_text(whole)  # fsynced, not renamed
    (folder / f"00000000000000000002-{dead}-000001.ads.tmp").write_text(whole + '{"id": "s:3", "te')  # torn
    (folder / "rejected" / f"00000000000000000003-{dead}-000001.ads.tmp").write_text('{"reason": "x", "rec')
    (folder / f"00000000000000000004-{os.getpid()}-000009.ads.tmp").write_text("")  # a live writer's: kept
    spool = Spool(folder)
    spool.append("ads", ads(9))
    applied: list[str] = []
    spool.replay(lambda kind, batch: applied.extend(r["id"] for r in batch))
    assert applied == ["s:1", "s:2", "s:1", "s:2", "s:9"]  # in order; the torn record dropped, its batch kept
    assert sorted(p.name for p in folder.rglob("*.tmp")) == [f"00000000000000000004-{os.getpid()}-000009.ads.tmp"]
    assert list((folder / "rejected").iterdir()) == []


def test_a_leftover_alone_is_recovered_by_the_replay_at_the_start_of_a_crawl(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    (folder / f"00000000000000000001-{2**22 + 12345}-000001.ads.tmp").write_text(json.dumps(ads(1)[0]) + "\n")
    applied: list[str] = []
    assert Spool(folder).replay(lambda kind, batch: applied.extend(r["id"] for r in batch)) == 1
    assert applied == ["s:1"] and list(folder.glob("*.tmp")) == []
