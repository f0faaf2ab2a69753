"""Indicator lexicons (``nlp/data/indicators/<lang>.yaml``) → hits, and the ad's score.

Matching (the contract the lexicon files are written against): the text is NFKC
normalized; each pattern matches case-insensitively as whole words
(``(?<!\\w)(?:PATTERN)(?!\\w)``); every blocker match removes the overlapping hits of
the categories it cancels. All languages' files apply to every ad (ads mix languages).
A stated age under 21 ("19 år", "age 19", "19yo") is a youth hit from code, not data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from nlp.firstchars import first_chars

DATA = Path(__file__).resolve().parent / "data" / "indicators"
CATEGORIES = ("movement", "youth", "third_party", "language_barrier", "controlled_contact", "risky_services",
              "multiple_women", "hotel", "availability", "nationality")
EVIDENCE = ("research", "practice", "proposal")
_AGE = re.compile(
    r"(?<![\w.,])(?P<age>1[3-9]|20)\s*(?:år|years?(?:\s+old)?|yrs?|yo|y\.o\.?|jahre|lat|ani|лет|год)(?!\w)"
    r"|(?:ålder|age|wiek|vârsta|возраст|jag är|i am|i'm|im|mam|am)\s*[:=]?\s*(?P<age2>1[3-9]|20)"
    r"(?!\s*(?:cm|kg|kr|sek|eur|min|%|:|\.\d|,\d|\d))(?![\w])",
    re.IGNORECASE,
)


_STARTS = re.compile(r"(?<!\w)\S")  # where a whole-word pattern can begin


class LexiconError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    pattern: str
    evidence: str
    weight: float
    positive: tuple[str, ...]
    negative: tuple[str, ...]


@dataclass(frozen=True)
class Blocker:
    id: str
    cancels: tuple[str, ...]
    pattern: str
    positive: tuple[str, ...]


def _wrap(pattern: str) -> str:
    return r"(?<!\w)(?:" + pattern + r")(?!\w)"


def load_lexicons(folder: Path = DATA) -> tuple[list[Entry], list[Blocker], dict[str, Any]]:
    weights = yaml.safe_load((folder / "weights.yaml").read_text(encoding="utf-8"))
    entries: list[Entry] = []
    blockers: list[Blocker] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "weights.yaml":
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for raw in data.get("entries") or []:
            where = f"{path.name}: {raw.get('id', '?')}"
            if raw.get("id") in seen:
                raise LexiconError(f"{where}: duplicate id")
            if raw.get("category") not in CATEGORIES:
                raise LexiconError(f"{where}: unknown category {raw.get('category')!r}")
            if raw.get("evidence") not in EVIDENCE:
                raise LexiconError(f"{where}: evidence must be one of {EVIDENCE}")
            _compile(raw.get("pattern", ""), where)
            seen.add(raw["id"])
            entries.append(Entry(raw["id"], raw["category"], raw["pattern"], raw["evidence"],
                                 float(raw.get("weight", weights["evidence_weights"][raw["evidence"]])),
                                 tuple(raw.get("positive") or ()), tuple(raw.get("negative") or ())))
        for raw in data.get("blockers") or []:
            where = f"{path.name}: {raw.get('id', '?')}"
            cancels = tuple(raw.get("cancels") or ())
            if not cancels or any(c not in CATEGORIES for c in cancels):
                raise LexiconError(f"{where}: cancels must list known categories")
            _compile(raw.get("pattern", ""), where)
            blockers.append(Blocker(raw["id"], cancels, raw["pattern"], tuple(raw.get("positive") or ())))
    return entries, blockers, weights


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    if not pattern or "(?P<" in pattern:
        raise LexiconError(f"{where}: pattern must be non-empty and use no named groups")
    try:
        return re.compile(_wrap(pattern), re.IGNORECASE)
    except re.error as exc:
        raise LexiconError(f"{where}: invalid pattern: {exc}") from None


@dataclass(frozen=True)
class Hit:
    category: str
    phrase: str
    start: int
    end: int
    rule: str
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "phrase": self.phrase, "start": self.start, "end": self.end,
                "rule": self.rule, "weight": self.weight}


class _Scanner:
    """Named groups of patterns, tried at each word start only where they can begin.

    Per group, ``scan`` gives the same matches as the group's patterns joined in one
    alternation and scanned over the text (leftmost, non-overlapping). Patterns are
    indexed by the characters they can start with (``nlp.firstchars``), so at each word
    start only a few small alternations run; a pattern whose start cannot be bounded is
    tried everywhere in its group.
    """

    def __init__(self, groups: dict[str, list[tuple[str, str]]]) -> None:
        self.index: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        self.anywhere: list[tuple[str, re.Pattern[str]]] = []
        for name, patterns in groups.items():
            keyed = [(key, pattern, first_chars(pattern)) for key, pattern in patterns]
            unbounded = [(k, p) for k, p, first in keyed if first is None]
            for char in sorted({c for _, _, first in keyed if first for c in first}):
                members = [(k, p) for k, p, first in keyed if first is None or char in first]
                self.index.setdefault(char, []).append((name, self._alternation(members)))
            if unbounded:
                self.anywhere.append((name, self._alternation(unbounded)))
        # Each character's list also holds the groups that reach it only through unbounded
        # patterns, so the scan is one dictionary look-up per word start.
        for indexed in self.index.values():
            names = {name for name, _ in indexed}
            indexed.extend((name, regex) for name, regex in self.anywhere if name not in names)

    @staticmethod
    def _alternation(members: list[tuple[str, str]]) -> re.Pattern[str]:
        return re.compile("|".join(f"(?P<{k}>(?:{p})(?!\\w))" for k, p in members), re.IGNORECASE)

    def scan(self, text: str, starts: list[int]) -> list[tuple[str, re.Match[str]]]:
        found: list[tuple[str, re.Match[str]]] = []
        free_from: dict[str, int] = {}
        index, anywhere = self.index, self.anywhere
        for pos in starts:
            for name, regex in index.get(text[pos].lower(), anywhere):
                if pos < free_from.get(name, 0):
                    continue
                match = regex.match(text, pos)
                if match is not None and match.end() > pos:
                    found.append((name, match))
                    free_from[name] = match.end()
        return found


class IndicatorMatcher:
    """Entries of a category act as one alternation; blockers group by what they cancel."""

    def __init__(self, entries: list[Entry], blockers: list[Blocker], weights: dict[str, Any]) -> None:
        self.weights = weights
        self.entries = {f"e{i}": entry for i, entry in enumerate(entries)}
        self.hits_scanner = _Scanner({
            category: [(k, e.pattern) for k, e in self.entries.items() if e.category == category]
            for category in CATEGORIES
        })
        groups: dict[str, list[tuple[str, str]]] = {}
        self.cancels: dict[str, tuple[str, ...]] = {}
        for i, blocker in enumerate(blockers):
            name = "+".join(blocker.cancels)
            self.cancels[name] = blocker.cancels
            groups.setdefault(name, []).append((f"b{i}", blocker.pattern))
        self.blocker_scanner = _Scanner(groups)

    def _raw_hits(self, text: str, starts: list[int] | None = None) -> list[Hit]:
        starts = starts if starts is not None else [m.start() for m in _STARTS.finditer(text)]
        hits: list[Hit] = []
        for category, match in self.hits_scanner.scan(text, starts):
            entry = self.entries[match.lastgroup or ""]
            hits.append(Hit(category, match.group(), match.start(), match.end(), entry.id, entry.weight))
        for match in _AGE.finditer(text):
            hits.append(Hit("youth", match.group(), match.start(), match.end(), "code.youth.stated_age", 1.0))
        return hits

    def blocked_spans(self, text: str, starts: list[int] | None = None) -> list[tuple[int, int, tuple[str, ...]]]:
        starts = starts if starts is not None else [m.start() for m in _STARTS.finditer(text)]
        return [(m.start(), m.end(), self.cancels[name]) for name, m in self.blocker_scanner.scan(text, starts)]

    def find(self, text: str) -> list[Hit]:
        text = unicodedata.normalize("NFKC", text)
        starts = [m.start() for m in _STARTS.finditer(text)]
        blocked = self.blocked_spans(text, starts)
        hits = [h for h in self._raw_hits(text, starts)
                if not any(h.category in cancels and h.start < end and start < h.end
                           for start, end, cancels in blocked)]
        return sorted(hits, key=lambda h: (h.start, h.category))

    def entry_hits(self, entry: Entry, text: str) -> list[Hit]:
        """Surviving hits of one entry alone (for the lexicon's own example tests)."""
        text = unicodedata.normalize("NFKC", text)
        regex = re.compile(_wrap(entry.pattern), re.IGNORECASE)
        blocked = self.blocked_spans(text)
        return [Hit(entry.category, m.group(), m.start(), m.end(), entry.id, entry.weight)
                for m in regex.finditer(text)
                if not any(entry.category in cancels and m.start() < end and start < m.end()
                           for start, end, cancels in blocked)]

    def score(self, hits: list[Hit], obfuscated_phone: bool) -> float:
        per_category: dict[str, float] = {}
        for hit in hits:
            per_category[hit.category] = per_category.get(hit.category, 0.0) + hit.weight
        total = sum(self.weights["categories"][c] * min(1.0, w) for c, w in per_category.items())
        if obfuscated_phone:
            total += self.weights["obfuscated_phone"]
        return round(total, 3)

    @property
    def flag_threshold(self) -> float:
        return float(self.weights["flag_threshold"])


@cache
def indicator_matcher() -> IndicatorMatcher:
    return IndicatorMatcher(*load_lexicons())
