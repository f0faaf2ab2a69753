"""The default store: one SQLite file in WAL mode with an FTS5 index.

Every batch is one transaction (ads, phone links, town links, phone registry), so a
crash leaves the file consistent: a batch is either all there or not at all.

One module per part of the ``Store`` protocol (``index/store.py``), each a mixin over the
one connection of ``base.py``; the data rules they keep are ``index/rules.py``.
"""

from __future__ import annotations

from index.sqlite.admin import SqliteAdmin
from index.sqlite.ads import SqliteAds
from index.sqlite.alerts import SqliteAlerts
from index.sqlite.audit import SqliteAudit
from index.sqlite.base import SchemaTooNew
from index.sqlite.holds import SqliteHolds
from index.sqlite.phones import SqlitePhoneRegistry
from index.sqlite.retention import SqliteRetention
from index.sqlite.runs import SqliteRuns
from index.sqlite.saved import SqliteSavedSearches
from index.sqlite.search import SqliteAdSearch


class SqliteStore(SqliteAds, SqliteAdSearch, SqlitePhoneRegistry, SqliteAlerts, SqliteRuns, SqliteSavedSearches,
                  SqliteAudit, SqliteHolds, SqliteRetention, SqliteAdmin):
    """Every part of the Store on one SQLite file: ``SqliteStore(path, readonly=False, timeout=30.0)``."""


__all__ = ["SchemaTooNew", "SqliteStore"]
