"""The list filters of a ``SearchQuery`` (ids, counties, towns, languages…), checked once for
every store, so a hostile or oversized list gets the same answer from SQLite and Elasticsearch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from index.fts import QueryError

# Saved-search alerts send up to ~1,000 ids; 10,000 leaves room and stays far below
# Elasticsearch's ``index.max_terms_count`` (65,536). SQLite reads a long list as one
# JSON parameter, so its variable limit never applies.
MAX_VALUES = 10_000


def values(name: str, given: Iterable[Any]) -> list[str]:
    """The values as strings, first occurrence kept, in order; a QueryError past ``MAX_VALUES``.

    Values are matched exactly: an empty string is a value like any other (no ad has it), so
    ``ids=[""]`` finds nothing rather than every ad."""
    if isinstance(given, str | bytes):  # one value where a list was meant (a hand-written saved search)
        given = [given.decode("utf-8", "replace") if isinstance(given, bytes) else given]
    out = list(dict.fromkeys("" if v is None else str(v) for v in given))
    if len(out) > MAX_VALUES:
        raise QueryError(f"{len(out):,} {name} in one query; at most {MAX_VALUES:,}")
    return out
