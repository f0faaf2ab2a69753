"""The SQLite store's connection: the file, its schema migrations, write transactions and rows.

Every part of the store (``ads``, ``search``, ``phones``, ``alerts``, ``runs``, ``admin``)
is a mixin over this one connection, so a batch that touches several parts is still one
transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from geo.distance import great_circle_km
from index.sqlite_schema import LATEST, MIGRATIONS
from index.store import StoreUnavailable

JSON_FIELDS = ("images", "phones", "phone_details", "contacts", "towns", "indicators", "evidence")


class SchemaTooNew(RuntimeError):
    pass


def chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    """Slices of at most ``size``: SQLite limits the parameters of one statement."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def marks(values: list[Any]) -> str:
    """``?, ?, …``: one placeholder per value, for ``IN (…)``."""
    return ",".join("?" * len(values))


class SqliteBase:
    def __init__(self, path: str | Path, readonly: bool = False, timeout: float = 30.0) -> None:
        self.path = Path(path)
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
        # Used by one thread at a time, but may be closed by another (a test's writer threads).
        self.db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.create_function("geo_km", 4, great_circle_km, deterministic=True)
        if not readonly:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            # A bigger page cache keeps the FTS and index pages of a batch in memory.
            self.db.execute("PRAGMA cache_size = -65536")
            self.db.execute("PRAGMA temp_store = MEMORY")
            self.migrate()

    # --- schema -----------------------------------------------------------------
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        current = self.schema_version()
        if current > LATEST:
            raise SchemaTooNew(f"{self.path}: schema v{current} is newer than this adwatch (v{LATEST})")
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self.schema_version() >= version:  # another process migrated while we waited
                    self.db.execute("COMMIT")
                    continue
                for statement in _split_sql(sql):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    # --- plumbing ---------------------------------------------------------------
    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        """One write transaction; "locked past the timeout", read-only or a lost disk
        become StoreUnavailable (keep the data, retry later), anything else propagates."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback()
            raise StoreUnavailable(f"{self.path}: {exc}") from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _facet(self, sql: str, params: list[Any]) -> dict[str, int]:
        return {row[0]: row[1] for row in self.db.execute(sql, params)}

    @staticmethod
    def _ad(row: sqlite3.Row) -> dict[str, Any]:
        """A stored row as an Ad dict (JSON columns decoded, store-only columns dropped)."""
        ad = dict(row)
        ad.pop("rowid", None)
        for name in JSON_FIELDS:
            if name in ad and ad[name] is not None:
                ad[name] = json.loads(ad[name])
        ad.pop("seen_date", None)
        ad.pop("missing_count", None)
        return ad


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (triggers contain ';' inside BEGIN … END)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
