"""What every match of a regular expression must contain, read from Python's own parser.

The indicator matcher skips, per ad, every pattern none of whose required texts occur:
substring tests in C instead of a regex scan, for hundreds of patterns per ad.
"""

from __future__ import annotations

import re
from typing import Any

# Python's own regex parser (stable since 3.11 under these names; typeshed does not list them).
_C: Any = getattr(re, "_constants")  # noqa: B009
_PARSER: Any = getattr(re, "_parser")  # noqa: B009
Factor = tuple[str, ...]  # a match contains at least one of these (lowercase) texts


def required_factors(pattern: str, min_length: int = 2) -> list[Factor]:
    """Every factor a match must satisfy (contain one of its texts), strongest first."""
    try:
        parsed = _PARSER.parse(pattern, re.IGNORECASE)
    except re.error:
        return []
    factors = {f for f in _factors(list(parsed)) if f and _strength(f) >= min_length}
    return sorted(factors, key=lambda f: (-_strength(f), f))


_MAX_VARIANTS = 16  # "t[âîai]n[ăa]" spells 8 texts; a run that spells more is cut


def _text_strength(text: str) -> int:
    # A rare symbol ("&", an emoji) narrows ads down as well as two letters do; ordinary
    # punctuation ("-", "/", "–") does not.
    if len(text) == 1 and (text == "&" or not (text.isascii() or text.isalnum() or text in "–—‒’‘“”«»…·•")):
        return 2
    return len(text.strip())


def _strength(factor: Factor) -> int:
    return min(_text_strength(text) for text in factor)


def _best(factors: list[Factor], min_length: int) -> Factor | None:
    factors = [f for f in factors if f and _strength(f) >= min_length]
    return max(factors, key=_strength, default=None)


def _class_chars(av: Any) -> list[str] | None:
    """The characters of a small class of plain characters ("[ăa]"), else None."""
    chars = [chr(v) for op, v in av if op is _C.LITERAL]
    return chars if len(chars) == len(av) and len(chars) <= 4 else None


def _leading(items: list[tuple[Any, Any]]) -> list[str]:
    """The texts a match of this sequence can start with, as far as they are certain
    ("(ul|uri)" → ["ul", "uri"]); [""] when it starts with anything else."""
    variants = [""]
    for op, av in items:
        if op is _C.LITERAL:
            variants = [text + chr(av) for text in variants]
            continue
        if op is _C.BRANCH:
            nested = [v for branch in av[1] for v in _leading(list(branch))]
        elif op is _C.SUBPATTERN:
            nested = _leading(list(av[-1]))
        else:
            break
        if len(variants) * len(nested) > _MAX_VARIANTS:
            break
        variants = [text + more for text in variants for more in nested]
        break  # what follows a branch differs per branch: stop here
    return variants


def _factors(items: list[tuple[Any, Any]]) -> list[Factor]:
    """Every factor found in a sequence: literal runs (with the variants small classes
    spell), and what groups and branches require."""
    factors: list[Factor] = []
    run = [""]  # the variants of the current literal run

    def close() -> None:
        if any(run):
            factors.append(tuple(sorted({text.lower() for text in run})))
        run[:] = [""]

    for op, av in items:
        if op is _C.LITERAL:
            run[:] = [text + chr(av) for text in run]
            continue
        chars = _class_chars(av) if op is _C.IN else None
        if chars and len(run) * len(chars) <= _MAX_VARIANTS:
            run[:] = [text + char for text in run for char in chars]
            continue
        if op in (_C.BRANCH, _C.SUBPATTERN) and any(run):
            # A run goes on into a branch: "hotel(ul|uri)" needs "hotelul" or "hoteluri", and
            # the parser's own "room|rm" → "r" + (oom|m) needs "room" or "rm".
            joined = [text + more for text in run for more in _leading([(op, av)])]
            if len(joined) <= _MAX_VARIANTS:
                factors.append(tuple(sorted({text.lower() for text in joined})))
        close()
        if op is _C.SUBPATTERN:
            factors.extend(_factors(list(av[-1])))
        elif op is _C.BRANCH:
            per_branch = [_best(_factors(list(branch)), 1) for branch in av[1]]
            if all(per_branch):
                factors.append(tuple(sorted({t for f in per_branch if f for t in f})))
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT) and av[0] >= 1:
            factors.extend(_factors(list(av[2])))  # the body occurs at least once
    close()
    return factors
