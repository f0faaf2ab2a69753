"""The SQLite store's connection: the file, its schema migrations, write transactions and rows.

Every part of the store (``ads``, ``search``, ``phones``, ``alerts``, ``runs``, ``admin``)
is a mixin over this one connection, so a batch that touches several parts is still one
transaction.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from geo.distance import great_circle_km
from index.sqlite_schema import LATEST, MIGRATIONS
from index.store import StoreUnavailable

JSON_FIELDS = ("images", "phones", "phone_details", "contacts", "towns", "indicators", "evidence")
# Database files this process has open through SQLite, by (device, inode). POSIX locks belong
# to a process and an inode: closing ANY descriptor of the file drops every lock SQLite holds
# on it, and another process may then checkpoint or reset the WAL under this one's feet (its
# writes are lost without an error). So the header check never opens a file that is in use here.
_IN_USE: Counter[tuple[int, int]] = Counter()


class SchemaTooNew(RuntimeError):
    pass


def chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    """Slices of at most ``size``: SQLite limits the parameters of one statement."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def marks(values: list[Any]) -> str:
    """``?, ?, …``: one placeholder per value, for ``IN (…)``."""
    return ",".join("?" * len(values))


class CheckedConnection(sqlite3.Connection):
    """A connection that names its file when SQLite finds it damaged: ``StoreDamaged`` (one line:
    which file, what to do) instead of a bare ``DatabaseError`` from deep inside a command."""

    path: Path = Path()
    inode: tuple[int, int] | None = None

    def close(self) -> None:
        if self.inode is not None:
            _IN_USE[self.inode] -= 1
            self.inode = None
        super().close()

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:  # free unless it raises: this runs for every statement
            return super().execute(sql, parameters)
        except (sqlite3.DatabaseError, UnicodeDecodeError, MemoryError) as exc:
            raise self._named(exc) from exc

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except (sqlite3.DatabaseError, UnicodeDecodeError, MemoryError) as exc:
            raise self._named(exc) from exc

    def _named(self, exc: Exception) -> Exception:
        if isinstance(exc, UnicodeDecodeError):  # SQLite's message quotes bytes from a damaged page
            return damaged(self.path, "a damaged page (SQLite's message is garbled)")
        if isinstance(exc, MemoryError):  # SQLITE_NOMEM: a damaged record can claim a size no memory holds
            return damaged(self.path, "SQLite ran out of memory reading it (a damaged record, unless the "
                                      "machine is really out of memory)")
        assert isinstance(exc, sqlite3.DatabaseError)
        return _translated(self.path, exc)


class SqliteBase:
    def __init__(self, path: str | Path, readonly: bool = False, timeout: float = 30.0) -> None:
        self.path = Path(path)
        if not readonly:
            _create_database(self.path)
        check_database_file(self.path)
        uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
        try:
            # Used by one thread at a time, but may be closed by another (a test's writer threads).
            db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False,
                                 factory=CheckedConnection)
        except sqlite3.DatabaseError as exc:
            raise _opening_error(self.path, exc) from exc
        db.path = self.path
        try:
            st = os.stat(self.path)
            db.inode = (st.st_dev, st.st_ino)
            _IN_USE[db.inode] += 1
        except OSError:  # it was just opened; if it is gone now, SQLite says so on the first read
            pass
        self.db: CheckedConnection = db
        self.db.row_factory = sqlite3.Row
        self.db.create_function("geo_km", 4, great_circle_km, deterministic=True)
        try:
            self.schema_version()  # reads page 1: a file that is no database says so here
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
                # A bigger page cache keeps the FTS and index pages of a batch in memory.
                self.db.execute("PRAGMA cache_size = -65536")
                self.db.execute("PRAGMA temp_store = MEMORY")
                self.migrate()
        except sqlite3.DatabaseError as exc:  # cannot open, read-only, disk full while migrating
            self.db.close()
            raise _opening_error(self.path, exc) from exc
        except BaseException:
            self.db.close()
            raise

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
                    if version > 10 and _column_exists(self.db, statement):
                        continue  # migrations after v10 may meet a file set back by hand: each is re-runnable
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


# --- damaged files and unusable folders ------------------------------------------
# SQLite's result codes (Python 3.11 gives ``sqlite_errorname``) that mean the file itself is bad.
_DAMAGE = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
# …and those that mean the folder cannot take the file now: no space, read-only, no access.
_FOLDER = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_IOERR")


def error_name(exc: sqlite3.Error) -> str:
    return str(getattr(exc, "sqlite_errorname", "") or "")


def _translated(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    """A damaged file becomes StoreDamaged; any other error stays what it was."""
    if error_name(exc).startswith(_DAMAGE):
        return damaged(path, str(exc))
    return exc


def _opening_error(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    """While opening: a damaged file, an unusable folder (StoreConfigError, one line), a store
    busy past the timeout (StoreUnavailable: retry later), else the error as it was."""
    from index.open import data_folder_error

    name = error_name(exc)
    if name.startswith(_DAMAGE):
        return damaged(path, str(exc))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreUnavailable(f"{path}: {exc}")
    if name.startswith("SQLITE_READONLY"):
        return data_folder_error(path.parent, f"read-only: {exc}; readers too write {path.name}-shm beside it")
    if name.startswith(_FOLDER):
        return data_folder_error(path.parent, str(exc))
    return exc


def damaged(path: Path, reason: str) -> Exception:
    from index.open import StoreDamaged

    return StoreDamaged(f"{path}: the database is damaged ({reason}); run 'adwatch index check', then restore "
                        f"{path.name} from a backup, or move it aside to start an empty one")


def _create_database(path: Path) -> None:
    """Create a missing database file 0600, complete: its header is written under a temporary
    name and the file is linked into place.

    Why: a database adwatch made is never zero bytes, so a zero-byte ``adwatch.db`` (or one
    shorter than its header says) is a truncated file, a damaged store to report, not a new
    one to fill silently. -wal and -shm take the database file's mode (SQLite copies it).
    """
    from adwatch.core.private import FILE_MODE, ensure_private_dir, open_private
    from index.open import data_folder_error

    folder = path.parent
    try:
        if path.exists():
            return
        ensure_private_dir(folder, tighten_existing=False)  # the operator's folder: never chmod-ed
        tmp = folder / f".{path.name}.{os.getpid()}.new"
        os.close(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
        try:
            fresh = sqlite3.connect(tmp)
            try:
                fresh.execute("PRAGMA journal_mode = WAL")  # writes the header (page 1)
            finally:
                fresh.close()
            os.chmod(tmp, FILE_MODE)
            with tmp.open("rb") as made:  # SQLite may fail to write without saying so (a file-size limit)
                if not made.read(100).startswith(SQLITE_MAGIC):
                    raise OSError(errno.ENOSPC, f"could not write a new database in {folder} (disk full?)")
            try:
                os.link(tmp, path)  # never replaces: a database another process made meanwhile wins
            except FileExistsError:
                pass
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                leftover.unlink(missing_ok=True)
    except OSError as exc:
        raise data_folder_error(folder, exc.strerror or str(exc)) from exc
    except sqlite3.DatabaseError as exc:
        raise data_folder_error(folder, str(exc)) from exc


SQLITE_MAGIC = b"SQLite format 3\x00"


def check_database_file(path: Path) -> None:
    """Raise StoreDamaged when ``path`` cannot be a sound database: zero bytes, not SQLite, or
    shorter than its header says (truncated). Reads 100 bytes: cheap enough for every open.

    A missing file is left to the caller. The size check is skipped while a -wal file holds
    frames: a crash during a checkpoint may leave the main file short until the WAL is replayed.
    """
    from adwatch.core.private import tighten
    from index.open import data_folder_error

    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise data_folder_error(path.parent, exc.strerror or str(exc)) from exc
    if stat.S_ISDIR(st.st_mode):
        raise damaged(path, "a folder is where the database file should be")
    if st.st_size == 0:
        raise damaged(path, "the file is empty: truncated")
    if _IN_USE[(st.st_dev, st.st_ino)] > 0:  # open here already (and checked then): reading it would drop its locks
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise data_folder_error(path.parent, exc.strerror or str(exc)) from exc
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise damaged(path, "not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]  # the size field is trusted only then (SQLite's rule)
    wal = path.with_name(path.name + "-wal")
    wal_frames = wal.exists() and wal.stat().st_size > 0
    if header_valid and pages and not wal_frames and st.st_size < pages * page_size:
        raise damaged(path, f"truncated: {st.st_size} bytes where its header says {pages * page_size}")
    for own in (path, wal, path.with_name(path.name + "-shm")):  # made by an older adwatch: too open
        try:
            tighten(own)
        except OSError:
            pass  # not ours to change (someone else's copy, a read-only file system): still readable


_ADD_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", re.I)


def _column_exists(db: sqlite3.Connection, statement: str) -> bool:
    """An ``ALTER TABLE t ADD COLUMN c`` whose column is there already (SQLite has no IF NOT EXISTS for it)."""
    match = _ADD_COLUMN.match(statement)
    if not match:
        return False
    return any(row[1] == match.group(2) for row in db.execute(f"PRAGMA table_info({match.group(1)})"))


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
