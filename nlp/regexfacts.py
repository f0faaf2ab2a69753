"""What every match of a regular expression must contain, read from Python's own parser.

The indicator matcher skips, per ad, every pattern none of whose required texts occur:
substring tests in C instead of a regex scan, for hundreds of patterns per ad.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

Factor = tuple[str, ...]  # a match contains at least one of these (lowercase) texts


class ParserChanged(RuntimeError):
    """Python's private regex parser is not what this module was written against."""


_OPCODES = ("LITERAL", "BRANCH", "SUBPATTERN", "IN", "MAX_REPEAT", "MIN_REPEAT", "AT")


def _private_parser() -> tuple[Any, Any] | None:
    """The one place this module touches a private stdlib module: Python's own regex parser
    ``re._parser`` and its opcodes ``re._constants`` (stable since 3.11 under these names;
    typeshed does not list them). None when a Python lacks them."""
    constants: Any = getattr(re, "_constants", None)
    parser: Any = getattr(re, "_parser", None)
    if parser is None or constants is None or not hasattr(parser, "parse"):
        return None
    if not all(hasattr(constants, name) for name in _OPCODES):
        return None
    return parser, constants


_PRIVATE = _private_parser()
_C: Any = _PRIVATE[1] if _PRIVATE else None


@lru_cache(maxsize=2048)  # each lexicon pattern is read for its factors and for its leading texts
def parse(pattern: str) -> list[tuple[Any, Any]]:
    """``pattern`` as the (opcode, argument) pairs Python's regex compiler reads. Raises
    ``re.error`` for a bad pattern and ``ParserChanged`` when this Python's private parser
    is missing or yields another shape (``tests/test_regexfacts.py`` fails loudly then;
    ``required_factors`` degrades to "no factor", so every pattern runs: slower, same hits)."""
    if _PRIVATE is None:
        raise ParserChanged(f"Python {sys.version.split()[0]} has no re._parser.parse or re._constants."
                            f"{{{','.join(_OPCODES)}}}: update nlp/regexfacts.py parse()")
    items = list(_PRIVATE[0].parse(pattern, re.IGNORECASE))
    if not all(isinstance(item, tuple) and len(item) == 2 for item in items):
        raise ParserChanged(f"re._parser.parse({pattern!r}) no longer yields (opcode, argument) pairs on "
                            f"Python {sys.version.split()[0]}: update nlp/regexfacts.py parse()")
    return items


def required_factors(pattern: str, min_length: int = 2) -> list[Factor]:
    """Every factor a match must satisfy (contain one of its texts), strongest first."""
    try:
        parsed = parse(pattern)
    except (re.error, ParserChanged):
        return []
    factors = {f for f in _factors(parsed) if f and _strength(f) >= min_length}
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


def case_blind_spots(texts: Iterable[str]) -> re.Pattern[str] | None:
    """What finds, in a text, the characters a case-insensitive pattern matches to a character
    of ``texts`` although their lowercase is no character of ``texts`` ("ſ" for "s", "ı" for
    "i", "K" for "k" is fine: its lowercase is "k"). Where one occurs, looking for
    ``texts`` in the lowercase text can miss a match. None when there are none."""
    alphabet = {char for text in texts for char in text}
    if not alphabet:
        return None
    matching = re.compile("[" + "".join(re.escape(char) for char in sorted(alphabet)) + "]", re.IGNORECASE)
    # Case partners of a letter in the Basic Multilingual Plane are in it too; beyond it only
    # when the texts hold a cased letter from beyond.
    beyond = any(ord(char) > 0xFFFF and char.lower() != char.upper() for char in alphabet)
    every = "".join(map(chr, range((sys.maxunicode if beyond else 0xFFFF) + 1)))
    blind = sorted({char for char in matching.findall(every) if char.lower() not in alphabet})
    return re.compile("[" + "".join(re.escape(char) for char in blind) + "]") if blind else None


def leading_texts(pattern: str, min_length: int = 2, max_variants: int = 64) -> tuple[str, ...] | None:
    """The (lowercase) texts every match of ``pattern`` starts with, one of them; None when a
    match may start otherwise or with a text shorter than ``min_length``. The indicator
    matcher tries such a pattern only where one of these texts occurs."""
    try:
        variants = _leading(parse(pattern), max_variants)
    except (re.error, ParserChanged):
        return None
    texts = {text.lower() for text in variants}
    if any(len(text) < min_length or len(text) != len(text.lower()) for text in variants):
        return None
    return tuple(sorted(texts))


def _leading(items: list[tuple[Any, Any]], limit: int = _MAX_VARIANTS) -> list[str]:
    """The texts a match of this sequence can start with, as far as they are certain
    ("(ul|uri)" → ["ul", "uri"]); [""] when it starts with anything else."""
    variants = [""]
    for op, av in items:
        if op is _C.LITERAL:
            variants = [text + chr(av) for text in variants]
            continue
        if op is _C.AT:  # \b, ^, $: they match no character
            continue
        if op is _C.BRANCH:
            nested = [v for branch in av[1] for v in _leading(list(branch), limit)]
        elif op is _C.SUBPATTERN:
            nested = _leading(list(av[-1]), limit)
        else:
            break
        if len(variants) * len(nested) > limit:
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
