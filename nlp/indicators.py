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
from pathlib import Path
from typing import Any, NamedTuple

import ahocorasick
import yaml

from nlp.regexfacts import case_blind_spots, leading_texts, required_factors

DATA = Path(__file__).resolve().parent / "data" / "indicators"
CATEGORIES = ("movement", "youth", "third_party", "language_barrier", "controlled_contact", "risky_services",
              "multiple_women", "hotel", "availability", "nationality")
EVIDENCE = ("research", "practice", "proposal")
_AGE_NUMBER = re.compile(r"(?:1[3-9]|20)(?!\d)")  # what every stated age holds: a cheap test first
_AGE = re.compile(
    # "19 år", "20 de ani", "19 i 22 lata"; "age: 19", "hon är 20", "she is 19"; "tjej 19", "girl, 19"
    r"(?<![\w.,])(?P<age>1[3-9]|20)(?:\s+(?:i|och|and|și|и)\s+\d{2})?\s*(?:de\s+)?"
    r"(?:år|years?(?:\s+old)?|yrs?|yo|y\.o\.?|jahre|lata?|ani|лет|год)(?!\w)"
    r"|(?:ålder|age|wiek|vârsta|возраст|jag är|hon är|i am|i'm|im|she is|she's|is|mam|am|ma|мне)\s*[:=]?\s*"
    r"(?P<age2>1[3-9]|20)(?!\s*(?:cm|kg|kr|sek|eur|min|%|:|\.\d|,\d|\d|st|pcs|minut|timm|hours?|m2|m²|sq|euro|€|\$))(?![\w])"
    r"|(?:tjej|flicka|girl|lady|student|dziewczyna|fată|девушка)\s*,?\s*(?P<age3>1[89]|20)(?![\w])",
    re.IGNORECASE,
)


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


# libyaml's loader when PyYAML has it: the lexicons are most of every crawl's start-up.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_lexicons(folder: Path = DATA) -> tuple[list[Entry], list[Blocker], dict[str, Any]]:
    weights = yaml.load((folder / "weights.yaml").read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    entries: list[Entry] = []
    blockers: list[Blocker] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "weights.yaml":
            continue
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
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


# Patterns compiled while the lexicons were checked, reused by the matcher: the lexicons hold
# more patterns than re's own cache, so each would otherwise be compiled twice at start-up.
_COMPILED: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    if not pattern or "(?P<" in pattern:
        raise LexiconError(f"{where}: pattern must be non-empty and use no named groups")
    try:
        return _whole_words(pattern)
    except re.error as exc:
        raise LexiconError(f"{where}: invalid pattern: {exc}") from None


def _whole_words(pattern: str) -> re.Pattern[str]:
    compiled = _COMPILED.get(pattern)
    if compiled is None:
        compiled = _COMPILED[pattern] = re.compile(_wrap(pattern), re.IGNORECASE)
    return compiled


class Hit(NamedTuple):  # a tuple: built for every hit of every ad
    category: str
    phrase: str
    start: int
    end: int
    rule: str
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "phrase": self.phrase, "start": self.start, "end": self.end,
                "rule": self.rule, "weight": self.weight}


class _Patterns:
    """Compiled whole-word patterns, each run only when the ad holds its required texts.

    Most patterns cannot match most ads; a pattern runs only when the ad holds one text of
    its strongest factor and of each further one (``regexfacts``). Which texts an ad holds
    is found by the matcher in one Aho–Corasick pass for all patterns. A pattern whose
    matches all start with known texts ("(bara|endast)\\s+…") is tried only where one of
    them starts a word, instead of at every position of the ad.
    """

    def __init__(self, patterns: list[str]) -> None:
        self.compiled = [_whole_words(p) for p in patterns]
        self.always: list[int] = []
        self.by_text: dict[str, list[int]] = {}
        self.others: list[list[tuple[str, ...]]] = []  # the further factors each pattern needs
        self.leads = [leading_texts(p, max_variants=_MAX_LEADS) for p in patterns]  # what matches start with
        # Many leading texts ("(romanian|polish|russian|…)\\s+…") are found in one scan each.
        self.lead_finders = [_lead_finder(lead) if lead and len(lead) > _FIND_ONE_BY_ONE else None
                             for lead in self.leads]
        for index, pattern in enumerate(patterns):
            factors = required_factors(pattern)
            # Weaker factors ("/", "&") cannot select patterns, but they can rule one out;
            # a single letter rules out nothing.
            weak = [f for f in required_factors(pattern, min_length=1)
                    if f not in factors[:1] and not any(len(t) == 1 and t.isalnum() for t in f)]
            self.others.append(weak)
            if not factors:
                self.always.append(index)
            for text in factors[0] if factors else ():
                self.by_text.setdefault(text, []).append(index)

    def texts(self) -> set[str]:
        return set(self.by_text) | {t for factors in self.others for factor in factors for t in factor}

    def start_texts(self) -> set[str]:
        return {text for lead in self.leads if lead for text in lead}

    def matches(self, text: str, scanned: _Scanned) -> list[tuple[int, re.Match[str]]]:
        """(pattern index, match) for every pattern that can match the ad, in pattern order."""
        present = scanned.present
        candidates = set(self.always)
        for required in present:
            candidates.update(self.by_text.get(required, ()))
        others = self.others
        runnable = [i for i in sorted(candidates)
                    if not others[i] or all(not present.isdisjoint(factor) for factor in others[i])]
        found: list[tuple[int, re.Match[str]]] = []
        for i in runnable:
            lead = self.leads[i]
            starts = scanned.starts(lead, self.lead_finders[i]) if lead is not None else None
            if starts is None:
                found.extend((i, m) for m in self.compiled[i].finditer(text))
                continue
            # What finditer finds: a match can only start where a leading text does, and the
            # next one is looked for from the end of the last.
            regex, free = self.compiled[i], 0
            for start in starts:
                if start >= free and (match := regex.match(text, start)) is not None:
                    found.append((i, match))
                    free = match.end()
        return found


class _Scanned:
    """One ad's text as the matcher reads it: the required texts it holds (``present``), and
    where a pattern's leading texts start a word, looked up when a pattern asks."""

    def __init__(self, text: str, present: set[str], positions: bool = True, blind: re.Pattern[str] | None = None
                 ) -> None:
        self.text = text
        self.present = present
        lowered = text.lower()
        # Offsets in the lowercase text are the text's own only when lowercasing keeps the
        # length, and a leading text is found there only when the text holds no character
        # the patterns match to one of its letters in another way ("ı" for "i").
        usable = positions and len(lowered) == len(text) and not (blind is not None and blind.search(text))
        self.lowered = lowered if usable else None
        self.found: dict[str, list[int]] = {}

    def _word_starts(self, lowered: str, wanted: str) -> list[int]:
        found = self.found.get(wanted)
        if found is None:
            found = self.found[wanted] = []
            text, at = self.text, lowered.find(wanted)
            while at != -1:
                # Every pattern is wrapped in (?<!\w): no match starts after a word character
                # (what str.isalnum() accepts, and "_").
                before = text[at - 1] if at else " "
                if not (before.isalnum() or before == "_"):
                    found.append(at)
                at = lowered.find(wanted, at + 1)
        return found

    def starts(self, lead: tuple[str, ...], finder: ahocorasick.Automaton | None = None) -> list[int] | None:
        """Where a match of a pattern with these leading texts can start, in order; None when
        positions are unknown (then the pattern scans the whole text). ``finder`` finds
        where any of them starts, for patterns with many."""
        lowered = self.lowered
        if lowered is None:
            return None
        if finder is not None:
            text = self.text
            found = {end - size + 1 for end, size in finder.iter(lowered)}
            return sorted(at for at in found if not at or not (text[at - 1].isalnum() or text[at - 1] == "_"))
        if len(lead) == 1:
            return self._word_starts(lowered, lead[0])
        return sorted({at for wanted in lead for at in self._word_starts(lowered, wanted)})


_MAX_LEADS = 256  # leading texts per pattern: more are not worth listing
_FIND_ONE_BY_ONE = 4  # up to this many leading texts are looked up one by one (str.find)


def _lead_finder(lead: tuple[str, ...]) -> ahocorasick.Automaton:
    """Every occurrence of one of ``lead``, as (end index, length), in one pass."""
    finder = ahocorasick.Automaton()
    for text in lead:
        finder.add_word(text, len(text))
    finder.make_automaton()
    return finder


def _text_finder(texts: set[str]) -> ahocorasick.Automaton:
    finder = ahocorasick.Automaton()
    for text in texts:
        finder.add_word(text, text)
    finder.make_automaton()
    return finder


def _leftmost(found: list[tuple[int, re.Match[str]]]) -> list[tuple[int, re.Match[str]]]:
    """Leftmost, non-overlapping; at one start the earlier pattern wins (as in an alternation)."""
    kept: list[tuple[int, re.Match[str]]] = []
    free_from = 0
    for index, match in sorted(found, key=lambda pair: (pair[1].start(), pair[0])):
        if match.start() >= free_from and match.end() > match.start():
            kept.append((index, match))
            free_from = match.end()
    return kept


class IndicatorMatcher:
    """A category's entries act as one alternation scanned over the ad (leftmost,
    non-overlapping hits); a pattern whose required text is absent is not run at all."""

    def __init__(self, entries: list[Entry], blockers: list[Blocker], weights: dict[str, Any]) -> None:
        self.weights = weights
        self.entry_list = entries
        self.entries = {e.id: e for e in entries}
        self.patterns = _Patterns([e.pattern for e in entries])
        self.blocker_list = blockers
        self.blocker_patterns = _Patterns([b.pattern for b in blockers])
        self.text_finder = _text_finder(self.patterns.texts() | self.blocker_patterns.texts())
        self.blind = case_blind_spots(self.patterns.start_texts() | self.blocker_patterns.start_texts())

    def present(self, text: str) -> set[str]:
        """The required texts of any pattern that ``text`` holds, in one pass."""
        return {found for _, found in self.text_finder.iter(text.lower())}

    def scan(self, text: str, positions: bool = True) -> _Scanned:
        """``text`` read for matching (``positions=False``: every pattern scans the whole text)."""
        return _Scanned(text, self.present(text), positions, self.blind)

    def _raw_hits(self, text: str, scanned: _Scanned | None = None) -> list[Hit]:
        scanned = scanned or self.scan(text)
        by_category: dict[str, list[tuple[int, re.Match[str]]]] = {}
        for index, match in self.patterns.matches(text, scanned):
            by_category.setdefault(self.entry_list[index].category, []).append((index, match))
        hits = [Hit(category, m.group(), m.start(), m.end(), self.entry_list[i].id, self.entry_list[i].weight)
                for category, found in by_category.items() for i, m in _leftmost(found)]
        for match in _AGE.finditer(text) if _AGE_NUMBER.search(text) else ():
            hits.append(Hit("youth", match.group(), match.start(), match.end(), "code.youth.stated_age", 1.0))
        return hits

    def blocked_spans(self, text: str, scanned: _Scanned | None = None) -> list[tuple[int, int, tuple[str, ...]]]:
        scanned = scanned or self.scan(text)
        return [(m.start(), m.end(), self.blocker_list[i].cancels)
                for i, m in self.blocker_patterns.matches(text, scanned)]

    def find(self, text: str) -> list[Hit]:
        text = unicodedata.normalize("NFKC", text)
        scanned = self.scan(text)
        blocked = self.blocked_spans(text, scanned)
        hits = self._raw_hits(text, scanned)
        if blocked:
            hits = [h for h in hits if not any(h.category in cancels and h.start < end and start < h.end
                                               for start, end, cancels in blocked)]
        return sorted(hits, key=lambda h: (h.start, h.category))

    def entry_hits(self, entry: Entry, text: str) -> list[Hit]:
        """Surviving hits of one entry alone (for the lexicon's own example tests)."""
        text = unicodedata.normalize("NFKC", text)
        regex = _whole_words(entry.pattern)
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


def indicator_matcher(folder: Path = DATA) -> IndicatorMatcher:
    """A matcher over the lexicons in ``folder``, built anew on each call (not cached): the spaCy
    component builds its own in ``initialize``; other callers keep the one they build."""
    return IndicatorMatcher(*load_lexicons(folder))
