"""Analyst search syntax → a safe SQLite FTS5 expression.

Supported: words (all must match), "exact phrases", OR between terms, -exclusions,
prefix* terms. Everything the analyst types becomes quoted FTS5 strings, so no input
(quotes, stars, parentheses, SQL fragments, FTS keywords) can break the syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A token: optional minus, then a "quoted phrase" (the closing quote may be missing) or a run of non-space.
_TOKEN = re.compile(r'(-?)(?:"([^"]*)"?|(\S+))')
_WORDCHAR = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class FtsQuery:
    positive: str | None  # rows must match this, or None when there is no positive term
    negative: str | None  # rows matching this are excluded


def _quote(term: str) -> str | None:
    prefix = term.endswith("*")
    core = term.replace('"', " ").replace("*", " ").strip("()[]{} ")
    if not _WORDCHAR.search(core):
        return None
    return f'"{core}"' + ("*" if prefix else "")


def to_fts(text: str) -> FtsQuery:
    groups: list[list[str]] = []  # AND of OR-groups
    negatives: list[str] = []
    join_next = False
    for match in _TOKEN.finditer(text):
        minus, phrase, bare = match.groups()
        if phrase is None and bare is not None:
            if bare == "OR" and not minus:
                join_next = bool(groups)
                continue
            bare = bare.strip("()")
            if minus and bare.startswith("-"):
                bare = bare.lstrip("-")
        term = _quote(phrase if phrase is not None else (bare or ""))
        if term is None:
            continue
        if minus:
            negatives.append(term)
        elif join_next and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    positive = " AND ".join(
        group[0] if len(group) == 1 else "(" + " OR ".join(group) + ")" for group in groups
    )
    return FtsQuery(positive or None, " OR ".join(negatives) or None)
