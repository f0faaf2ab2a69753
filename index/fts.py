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
# Control characters separate words: FTS5 ends a quoted string at a NUL ("unterminated string").
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Term:
    text: str  # a word or a phrase, without quotes and stars
    prefix: bool = False  # "gäv*": the last word may go on


@dataclass(frozen=True)
class ParsedQuery:
    groups: list[list[Term]]  # every group must match; within a group, any term (OR)
    negatives: list[Term]  # no term may match


class QueryError(ValueError):
    """The analyst's text cannot be searched as written; the message says why and what to do."""


def _counted(parsed: ParsedQuery) -> int:
    return sum(len(group) for group in parsed.groups) + len(parsed.negatives)


def searchable_terms(text: str) -> ParsedQuery:
    """``parse_terms``, for a store about to search: no text lists every ad, but text that
    parses to nothing (``"``, ``*``, ``-``, ``((((``) is a QueryError, never every ad in silence."""
    parsed = parse_terms(text)
    if text.strip() and not parsed.groups and not parsed.negatives:
        shown = text if len(text) <= 40 else text[:39] + "…"
        raise QueryError(f"the query {shown!r} has no words to search: give a word or a \"phrase\", "
                         "or leave the query out to list every ad")
    return parsed


def check_query(text: str, *, max_chars: int | None = None, max_terms: int | None = None) -> ParsedQuery:
    """The analyst's text parsed, or a QueryError: longer than ``max_chars``, more terms than
    ``max_terms`` (each term is a full-text look-up: a 100 KB query took 30 s and ~480 MB),
    or nothing to search (``searchable_terms``)."""
    if max_chars is not None and len(text) > max_chars:
        raise QueryError(f"the query is {len(text):,} characters long; at most {max_chars:,} "
                         "(ADWATCH_SEARCH_MAX_CHARS)")
    parsed = searchable_terms(text)
    if max_terms is not None and _counted(parsed) > max_terms:
        raise QueryError(f"the query has {_counted(parsed)} terms; at most {max_terms} (ADWATCH_SEARCH_MAX_TERMS)")
    return parsed


@dataclass(frozen=True)
class FtsQuery:
    positive: str | None  # rows must match this, or None when there is no positive term
    negative: str | None  # rows matching this are excluded


def _term(raw: str) -> Term | None:
    prefix = raw.endswith("*")
    core = _CONTROL.sub(" ", raw).replace('"', " ").replace("*", " ").strip("()[]{} ")
    if not _WORDCHAR.search(core):
        return None
    return Term(" ".join(core.split()), prefix)


def parse_terms(text: str) -> ParsedQuery:
    """The analyst's syntax, parsed once for every store."""
    groups: list[list[Term]] = []
    negatives: list[Term] = []
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
        term = _term(phrase if phrase is not None else (bare or ""))
        if term is None:
            continue
        if minus:
            negatives.append(term)
        elif join_next and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    return ParsedQuery(groups, negatives)


def _quote(term: Term) -> str:
    return f'"{term.text}"' + ("*" if term.prefix else "")


def to_fts(text: str) -> FtsQuery:
    parsed = searchable_terms(text)  # QueryError for text with nothing to search
    positive = " AND ".join(
        _quote(group[0]) if len(group) == 1 else "(" + " OR ".join(map(_quote, group)) + ")"
        for group in parsed.groups
    )
    return FtsQuery(positive or None, " OR ".join(map(_quote, parsed.negatives)) or None)
