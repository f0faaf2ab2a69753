"""The SQLite store's admin part: visibility of writes, the summary, closing, the integrity check."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from index.sqlite.base import SqliteBase, check_database_file, damaged, error_name
from index.sqlite_schema import LATEST


class SqliteAdmin(SqliteBase):
    def refresh(self) -> None:
        """Committed writes are visible at once."""

    def close(self) -> None:
        self.db.close()

    def summary(self, top: int = 10) -> dict[str, Any]:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "ads": one("SELECT count(*) FROM ads"),
            "phones": one("SELECT count(*) FROM phones"),
            "towns": one("SELECT count(DISTINCT town) FROM ad_towns"),
            "sources": self._facet("SELECT source, count(*) FROM ads GROUP BY source ORDER BY 2 DESC", []),
            "top_towns": self._facet(
                f"SELECT town, count(*) FROM ad_towns GROUP BY town ORDER BY 2 DESC, 1 LIMIT {int(top)}", []
            ),
            "multi_town_phones": one("SELECT count(*) FROM phones WHERE json_array_length(towns) > 1"),
            "top_phones": [
                {"e164": r["e164"], "ads": r["ads_count"], "towns": json.loads(r["towns"])}
                for r in self.db.execute(
                    "SELECT e164, ads_count, towns FROM phones "
                    f"ORDER BY json_array_length(towns) DESC, ads_count DESC, e164 LIMIT {int(top)}"
                )
            ],
        }


def check_file(path: Path, full: bool = False) -> list[tuple[bool, str]]:
    """``adwatch index check`` on a SQLite store: (sound?, one line) per finding.

    Works on a file too damaged to open as a store: the header first (``check_database_file``),
    then SQLite's own ``quick_check`` (``integrity_check`` with ``full``: also every index
    against its table, slower), then the schema version. Read-only: it never repairs."""
    from index.open import StoreConfigError

    if not path.exists():
        return [(False, f"{path}: no database (run 'adwatch crawl' or 'adwatch index create')")]
    try:
        check_database_file(path)
    except StoreConfigError as exc:
        return [(False, str(exc))]
    findings: list[tuple[bool, str]] = [(True, f"{path}: header sound ({path.stat().st_size} bytes)")]
    pragma = "integrity_check" if full else "quick_check"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [*findings, (False, f"{path}: cannot be opened: {exc}")]
    db.text_factory = lambda raw: raw.decode("utf-8", errors="replace")  # damaged text is still reported
    try:
        rows = [str(row[0]) for row in db.execute(f"PRAGMA {pragma}(20)")]
        broken = rows != ["ok"]
        if not broken:
            findings.append((True, f"{path}: {pragma} ok"))
        else:
            findings += [(False, f"{path}: {pragma}: {' '.join(row.split())}") for row in rows]
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
    except UnicodeDecodeError:  # SQLite's own message quotes the garbage
        findings.append((False, str(damaged(path, f"{pragma}: a damaged page (SQLite's message is garbled)"))))
        return findings
    except sqlite3.DatabaseError as exc:
        if error_name(exc).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            findings.append((False, str(damaged(path, f"{pragma}: {exc}"))))
        else:  # read-only folder, locked: the file may be fine, the check could not run
            findings.append((False, f"{path}: cannot be checked: {exc} (is its folder writable?)"))
        return findings
    finally:
        db.close()
    if version == LATEST:
        findings.append((True, f"{path}: schema v{version} (this adwatch's)"))
    elif version < LATEST:
        findings.append((False, f"{path}: schema v{version}, this adwatch has v{LATEST}: run 'adwatch index migrate'"))
    else:
        findings.append((False, f"{path}: schema v{version} is newer than this adwatch (v{LATEST}): upgrade adwatch"))
    if broken:
        findings.append((False, f"{path}: damaged: restore it from a backup, or move it aside to start an empty one"))
    return findings
