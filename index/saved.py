"""Saved searches: the record both stores keep (``index.store.SavedSearchStore``), built once here.

A record: id · owner · name · query · created_at. The id is random, not derived from the
content: an analyst may save the same query twice under two names, and deleting one must not
touch the other. The name is the analyst's own label, hostile text like any other: it is kept
as given (escaping is the job of whatever shows it), only capped and made encodable.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

SAVED_FIELDS: tuple[str, ...] = ("id", "owner", "name", "query", "created_at")
NAME_MAX_CHARS = 200
_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """``text`` with lone surrogates (which JSON can carry as escapes, but neither SQLite nor
    UTF-8 can store) replaced by U+FFFD; everything else, controls included, kept as given."""
    return _SURROGATE.sub("\ufffd", text)


def _plain(value: Any) -> Any:
    """A JSON value with every string encodable (the query holds the analyst's text, as hostile)."""
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, dict):
        return {encodable(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def new_saved_search(owner: str, name: str, query: dict[str, Any], created_at: str) -> dict[str, Any]:
    """The record to store, with a new id (64 random bits: no clash in any realistic count)."""
    if not isinstance(query, dict):
        raise TypeError(f"a saved query is a dict (SearchQuery.to_dict()), not {type(query).__name__}")
    return {"id": secrets.token_hex(8), "owner": encodable(str(owner)),
            "name": encodable(str(name))[:NAME_MAX_CHARS], "query": _plain(query), "created_at": created_at}
