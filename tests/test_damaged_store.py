"""A damaged database and an unusable data folder: every command says which file or folder,
why and what to do, in one line, and exits non-zero; ``adwatch index check`` finds damage."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from index.sqlite import SqliteStore
from tests.conftest import ADWATCH, ROOT, run_adwatch

# Every command that reads or writes the store (crawl: at an address where nothing answers,
# so the crawl itself is quick).
COMMANDS = (("crawl", "--all", "--base-url", "http://127.0.0.1:9"), ("search", "ring"), ("show", "x:1"),
            ("phones", "0701740605"), ("stats",), ("runs",), ("trends",), ("alerts", "list"),
            ("index", "stats"), ("index", "migrate"), ("schedule", "once"))


def one_line_failure(result: subprocess.CompletedProcess[str], *words: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr[-2000:]
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def made_store(home: Path) -> Path:
    store = SqliteStore(home / "adwatch.db")
    store.write_ads([{"id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "title": f"ring {n}",
                      "text": "ring mig " * 50, "first_seen_at": "2026-11-28T10:00:00Z",
                      "last_seen_at": "2026-11-28T10:00:00Z", "content_hash": f"h{n}"} for n in range(300)])
    store.close()
    return home / "adwatch.db"


# --- item 11: a damaged database ----------------------------------------------------------
def test_a_zero_byte_database_is_damaged_not_new(home: Path) -> None:
    """adwatch writes a new database's header before the file gets its name, so a zero-byte
    adwatch.db was truncated: never silently made again (and the crawl never says ok)."""
    db = made_store(home)
    os.truncate(db, 0)
    for command in COMMANDS:
        one_line_failure(run_adwatch(*command, home=home), str(db), "damaged", "backup")
    assert db.stat().st_size == 0  # left for a person to look at


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_truncated_or_overwritten_database_is_one_line_everywhere(home: Path, damage: str) -> None:
    db = made_store(home)
    if damage == "truncated":
        os.truncate(db, db.stat().st_size // 2)
    else:
        db.write_bytes(b"<html>not a database</html>" * 200)
    for command in (("search", "ring"), ("crawl", "--all", "--base-url", "http://127.0.0.1:9"), ("index", "check")):
        one_line_failure(run_adwatch(*command, home=home), str(db), "damaged")


def test_index_check_finds_damaged_pages_that_the_header_hides(home: Path) -> None:
    db = made_store(home)
    sound = run_adwatch("index", "check", home=home)
    assert sound.returncode == 0 and "quick_check ok" in sound.stdout and "schema v" in sound.stdout, sound.stderr
    with db.open("r+b") as raw:  # scribble over the middle of pages past the first two
        for offset in range(8192 + 300, db.stat().st_size, 4096 * 3):
            raw.seek(offset)
            raw.write(b"\xff" * 400)
    checked = run_adwatch("index", "check", "--full", home=home)
    assert checked.returncode == 1 and "PROBLEM" in checked.stderr and str(db) in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr
    one_line_failure(run_adwatch("search", "ring", home=home), str(db), "damaged")


def test_index_check_on_elasticsearch(es_url: str, es_prefix: str, home: Path) -> None:
    env = {"ADWATCH_STORE": "es", "ADWATCH_ES_URL": es_url, "ADWATCH_ES_PREFIX": es_prefix}
    missing = run_adwatch("index", "check", home=home, env=env)
    assert missing.returncode == 1 and f"{es_prefix}-ads: missing" in missing.stderr, missing.stderr
    run_adwatch("index", "create", home=home, env=env, check=True)
    healthy = run_adwatch("index", "check", home=home, env=env)
    assert healthy.returncode == 0, healthy.stderr
    assert "cluster" in healthy.stdout and f"{es_prefix}-ads → {es_prefix}-ads-v" in healthy.stdout
    gone = run_adwatch("index", "check", home=home, env={**env, "ADWATCH_ES_URL": "http://127.0.0.1:9"})
    assert gone.returncode == 1 and "unreachable" in gone.stderr and "Traceback" not in gone.stderr


# --- item 12: a data folder that cannot be used -------------------------------------------
def drop_root_powers() -> None:
    """For ``preexec_fn``: root passes permission checks (CAP_DAC_OVERRIDE…); drop those from the
    bounding set so the command after exec meets a read-only folder as any user would."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_without_root_powers(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_")}
    return subprocess.run([*ADWATCH, *args], capture_output=True, text=True, cwd=ROOT, timeout=240,
                          env={**env, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"},
                          preexec_fn=drop_root_powers if os.geteuid() == 0 else None, executable=sys.executable)


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_a_data_folder_that_is_a_file(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    home = blocker if where == "a file" else blocker / "home"
    for command in (*COMMANDS[1:], ("index", "create"), ("index", "check")):
        one_line_failure(run_adwatch(*command, home=home), str(home), "file, not a folder")
    assert blocker.read_text() == "not a folder"


def test_a_crawl_in_a_data_folder_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    one_line_failure(run_adwatch(*COMMANDS[0], home=home), str(home), "file, not a folder")


def test_a_read_only_data_folder(tmp_path: Path) -> None:
    """A real read-only folder. The tests run as root, who ignores directory permissions: the
    command then runs with the capabilities that allow it dropped (as any user would be)."""
    empty, holding = tmp_path / "empty", tmp_path / "holding"
    empty.mkdir()
    holding.mkdir()
    made_store(holding)
    for folder in (empty, holding):
        folder.chmod(0o555)
    try:
        probe = run_without_root_powers("index", "create", home=empty)
        if os.geteuid() == 0 and "Operation not permitted" in probe.stderr:
            pytest.skip("cannot drop root's capabilities here")
        for home in (empty, holding):
            for command in (("crawl", "--all", "--base-url", "http://127.0.0.1:9"), ("index", "create"),
                            ("search", "ring"), ("alerts", "list")):
                result = run_without_root_powers(*command, home=home)
                line = one_line_failure(result)
                assert str(home) in line and ("no index yet" in line or "read-only" in line
                                              or "not writable" in line), line
    finally:
        for folder in (empty, holding):
            folder.chmod(0o755)


def file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_when_the_store_is_made(tmp_path: Path) -> None:
    """No room for the database (``ulimit -f`` stands in for a full disk): one line, and no
    zero-byte adwatch.db left to be taken for a damaged one later."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_")}
    for limit in (1000, 20_000):  # the header does not fit; the schema does not fit
        for command in (("index", "create"), ("crawl", "--all", "--base-url", "http://127.0.0.1:9")):
            result = subprocess.run([*ADWATCH, *command], capture_output=True, text=True, cwd=ROOT, timeout=240,
                                    env={**env, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"},
                                    preexec_fn=file_size_limit(limit), executable=sys.executable)
            one_line_failure(result, str(home))
        assert not (home / "adwatch.db").exists() or (home / "adwatch.db").stat().st_size > 0
    run_adwatch("index", "create", home=home, check=True)  # room again: it just works


def test_a_new_database_gets_its_name_only_once_it_is_whole(tmp_path: Path) -> None:
    """Why a zero-byte adwatch.db can be called damaged: adwatch never leaves one behind."""
    store = SqliteStore(tmp_path / "adwatch.db")
    assert (tmp_path / "adwatch.db").read_bytes()[:16] == b"SQLite format 3\x00"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("adwatch.db")) == []
    store.close()
