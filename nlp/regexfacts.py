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


def _strength(factor: Factor) -> int:
    return min(len(text.strip()) for text in factor)


def _best(factors: list[Factor], min_length: int) -> Factor | None:
    factors = [f for f in factors if f and _strength(f) >= min_length]
    return max(factors, key=_strength, default=None)


def _factors(items: list[tuple[Any, Any]]) -> list[Factor]:
    """Every factor found in a sequence: literal runs, and what groups and branches require."""
    factors: list[Factor] = []
    run = ""
    for op, av in items:
        if op is _C.LITERAL:
            run += chr(av)
            continue
        if run:
            factors.append((run.lower(),))
            run = ""
        if op is _C.SUBPATTERN:
            factors.extend(_factors(list(av[-1])))
        elif op is _C.BRANCH:
            per_branch = [_best(_factors(list(branch)), 1) for branch in av[1]]
            if all(per_branch):
                factors.append(tuple(sorted({t for f in per_branch if f for t in f})))
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT) and av[0] >= 1:
            factors.extend(_factors(list(av[2])))  # the body occurs at least once
    if run:
        factors.append((run.lower(),))
    return factors
