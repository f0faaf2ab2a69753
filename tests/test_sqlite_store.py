from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from index.open import StoreConfigError, open_store, store_config
from index.sqlite import SqliteStore
from index.sqlite.base import check_database_file
from index.sqlite_schema import LATEST


def test_schema_is_migrated_and_wal(store: SqliteStore) -> None:
    assert store.schema_version() == LATEST
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        SqliteStore(path)

def test_open_store_urls(tmp_path: Path) -> None:
    store = open_store(store_config({"ADWATCH_HOME": str(tmp_path), "ADWATCH_STORE": "sqlite"}))
    assert Path(store.path) == tmp_path / "adwatch.db"  # type: ignore[attr-defined]
    store.close()
    custom = tmp_path / "x" / "y.db"
    open_store(store_config({"ADWATCH_STORE": f"sqlite:///{custom}"})).close()
    assert custom.exists()
    with pytest.raises(StoreConfigError, match="unsupported"):
        open_store(store_config({"ADWATCH_STORE": "mongodb://x"}))
    with pytest.raises(StoreConfigError, match="no index yet"):
        open_store(store_config({"ADWATCH_HOME": str(tmp_path / "empty")}), readonly=True)



def test_opening_a_store_twice_in_one_process_keeps_the_first_ones_writes(tmp_path: Path) -> None:
    """POSIX locks belong to a process and an inode: a header check that opened and closed the
    database file while this process held it through SQLite dropped SQLite's locks, another
    process then deleted the WAL it was still writing to, and later commits were lost."""
    import subprocess
    import sys

    path = tmp_path / "adwatch.db"
    first = SqliteStore(path)
    first.db.execute("CREATE TABLE probe (n INTEGER)")
    first.db.execute("INSERT INTO probe VALUES (1)")
    second = SqliteStore(path)  # the same file again, in the same process (two crawlers do this)
    second.close()  # and closed again, while the first goes on
    check_database_file(path)  # as `adwatch index check` does, or any later open in this process
    reader = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
              "db.execute('SELECT count(*) FROM probe').fetchone(); db.close()")
    subprocess.run([sys.executable, "-c", reader, str(path)], check=True)  # another process comes and goes
    first.db.execute("INSERT INTO probe VALUES (2)")
    count = ("import sqlite3, sys; "
             "print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM probe').fetchone()[0])")
    seen = subprocess.run([sys.executable, "-c", count, str(path)], check=True, capture_output=True, text=True).stdout
    first.close()
    assert seen.strip() == "2"
