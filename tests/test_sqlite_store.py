from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from index.open import StoreConfigError, open_store, store_config
from index.sqlite import SqliteStore
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

