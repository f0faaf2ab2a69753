"""Private file modes: the database, its -wal/-shm, the spool and rejected records are 0600 in
0700 folders whatever the umask; files an older adwatch left too open are tightened."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from adwatch.core.private import ensure_private_dir, open_private, private_umask
from adwatch.demo import DemoSite
from index.spool import Spool
from index.sqlite import SqliteStore
from tests.conftest import run_adwatch

# Under ADWATCH_HOME but written by other parts (their owners make them private; the CLI's
# entry point sets umask 077 for them): listed, not judged, here.
OTHERS = ("locks", "alerts.jsonl", "logs")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def too_open(root: Path) -> list[str]:
    return [f"{path.relative_to(root)} {mode(path):o}" for path in [root, *root.rglob("*")]
            if mode(path) & 0o077 and path.relative_to(root).parts[0] not in OTHERS]


def test_a_crawl_under_umask_022_leaves_only_private_files(demo_site: DemoSite, tmp_path: Path,
                                                           loose_umask: None) -> None:
    home = tmp_path / "fresh" / "home"  # made by adwatch: 0700 too
    run_adwatch("crawl", "--all", "--base-url", demo_site.base_url, home=home, check=True)
    assert (home / "adwatch.db").exists() and mode(home) == 0o700
    assert too_open(home) == []
    # A spooled batch and a rejected record (the store was down; a record was bad): private too.
    spool = Spool(home / "adwatch.spool")
    spool.append("ads", [{"id": "a:1"}])
    spool.reject("ads", {"id": "a:2"}, "bad")
    assert too_open(home) == []
    assert {mode(p) for p in spool.folder.rglob("*") if p.is_file()} == {0o600}
    assert {mode(p) for p in [spool.folder, spool.rejected_folder]} == {0o700}


def test_wal_and_shm_are_private_while_the_store_is_open(tmp_path: Path, loose_umask: None) -> None:
    store = SqliteStore(tmp_path / "data" / "adwatch.db")
    store.write_ads([{"id": "s:1", "source": "s", "url": "http://x/1", "title": "t", "text": "x",
                      "first_seen_at": "2026-11-28T10:00:00Z", "last_seen_at": "2026-11-28T10:00:00Z",
                      "content_hash": "h"}])
    files = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert files == ["adwatch.db", "adwatch.db-shm", "adwatch.db-wal"]
    assert {mode(tmp_path / "data" / name) for name in files} == {0o600}
    assert mode(tmp_path / "data") == 0o700
    store.close()


def test_files_left_too_open_are_tightened_with_one_warning(tmp_path: Path, loose_umask: None,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)  # the operator's folder: shared on purpose, perhaps; never chmod-ed
    SqliteStore(home / "adwatch.db").close()
    Spool(home / "adwatch.spool").append("ads", [{"id": "a:1"}])
    os.chmod(home / "adwatch.db", 0o644)  # as an older adwatch left them
    os.chmod(home / "adwatch.spool", 0o755)
    caplog.set_level(logging.WARNING)
    SqliteStore(home / "adwatch.db", readonly=True).close()
    Spool(home / "adwatch.spool").append("ads", [{"id": "a:2"}])
    assert mode(home / "adwatch.db") == 0o600 and mode(home / "adwatch.spool") == 0o700
    warnings = [r.getMessage() for r in caplog.records if "readable by other users" in r.getMessage()]
    assert len(warnings) == 2 and all("\n" not in w for w in warnings)
    assert mode(home) == 0o755


def test_the_helpers_ignore_the_umask(tmp_path: Path, loose_umask: None) -> None:
    made = ensure_private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == mode(made) == 0o700
    os.close(open_private(made / "f", os.O_WRONLY | os.O_CREAT))
    assert mode(made / "f") == 0o600
    old = private_umask()
    try:
        (tmp_path / "g").write_text("x")  # any library's file, after the entry point set the umask
        assert mode(tmp_path / "g") == 0o600
    finally:
        os.umask(old)
