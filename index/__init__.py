"""Search index: the Store protocol (in parts, ``store.py``), its data rules (``rules.py``), the SQLite
store (default, ``sqlite/``), the Elasticsearch store (``elastic/``) and the query model."""

from __future__ import annotations

from index.open import open_store, store_for_crawler
from index.query import SearchQuery, SearchResult
from index.store import Store

__all__ = ["SearchQuery", "SearchResult", "Store", "open_store", "store_for_crawler"]
