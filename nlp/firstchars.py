"""The characters a regular expression can start with, read from Python's own parser.

The indicator matcher uses it to try, at each position of an ad, only the patterns
that can start with the character found there: hundreds of patterns cost a few
dictionary look-ups per word instead of a full scan each.
"""

from __future__ import annotations

import re
from typing import Any

# Python's own regex parser (stable since 3.11 under these names; typeshed does not list them).
C: Any = getattr(re, "_constants")  # noqa: B009
sre_parse: Any = getattr(re, "_parser")  # noqa: B009

_MAX_RANGE = 400  # wider character classes count as "anything"


def first_chars(pattern: str) -> frozenset[str] | None:
    """Lowercased first characters of any match, or None when that cannot be bounded."""
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE)
    except re.error:
        return None
    chars, nullable = _seq(list(parsed))
    if chars is None or nullable:
        return None
    return frozenset(c.lower() for c in chars) | frozenset(c.upper().lower() for c in chars)


def _seq(items: list[tuple[Any, Any]]) -> tuple[set[str] | None, bool]:
    out: set[str] = set()
    for op, av in items:
        chars, nullable = _op(op, av)
        if chars is None:
            return None, False
        out |= chars
        if not nullable:
            return out, False
    return out, True


def _op(op: Any, av: Any) -> tuple[set[str] | None, bool]:
    if op is C.LITERAL:
        return {chr(av)}, False
    if op is C.IN:
        return _charset(av), False
    if op is C.SUBPATTERN:
        return _seq(list(av[-1]))
    if op is C.BRANCH:
        out: set[str] = set()
        nullable = False
        for branch in av[1]:
            chars, empty = _seq(list(branch))
            if chars is None:
                return None, False
            out |= chars
            nullable = nullable or empty
        return out, nullable
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
        low, _high, item = av
        chars, empty = _seq(list(item))
        return chars, empty or low == 0
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return set(), True  # zero width
    return None, False  # ANY, NOT_LITERAL, CATEGORY, GROUPREF …: unbounded


def _charset(items: Any) -> set[str] | None:
    out: set[str] = set()
    for op, av in items:
        if op is C.LITERAL:
            out.add(chr(av))
        elif op is C.RANGE:
            low, high = av
            if high - low > _MAX_RANGE:
                return None
            out.update(chr(c) for c in range(low, high + 1))
        else:  # NEGATE, CATEGORY (\w, \d …)
            return None
    return out
