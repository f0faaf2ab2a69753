"""Towns: the site's location field first, then town names in the text, with context rules.

- Names that are ordinary words (``nlp/data/town_common_words.txt``, or three letters or
  fewer: Vara, Ed, Bro, Kil, Lit, Vi …) count only in a location context ("i Vara",
  "in Mora", "Sala centrum", a tour date "Kil 4/12") or when capitalised and not at
  the start of a sentence.
- Other names of places with 20,000+ people, aliases and other-language names of big
  cities count in any case ("gävle", "Gothenburg", "Стокгольм").
- Smaller places count when capitalised or in a location context.
- Homonyms resolve to the one nearest the location field's town, else the largest.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

from geo.distance import great_circle_km
from geo.gazetteer import Gazetteer, Town, fold

_DATA = Path(__file__).resolve().parent / "data"
_WORD = re.compile(r"[^\W\d_][\w'’\-]*")
_MAX_WORDS = 3
_BIG = 20_000
_BEFORE = frozenset(
    "i in från from på till to near nära utanför outside around runt kring besöker besök visiting visit "
    "hos at w we z do в из во din în la à a en".split()
)
_AFTER = frozenset("centrum city c station stad area området omgivning centre center".split())
_DATE_AFTER = re.compile(r"^\s*[:–-]?\s*\d{1,2}[./]\d{1,2}\b")
_SENTENCE_END = frozenset(".!?\n:;•*-–|")


# Ads repeat their words: a cached fold is a dictionary lookup.
_fold_word = lru_cache(maxsize=65_536)(fold)


def _common_words() -> frozenset[str]:
    lines = (_DATA / "town_common_words.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(fold(line) for line in lines if line.strip() and not line.startswith("#"))


def _distance_km(a: Town, b: Town) -> float:
    return great_circle_km(a.lat, a.lon, b.lat, b.lon) or 0.0


def _as_dict(town: Town, found_in: str, start: int = -1, end: int = -1) -> dict[str, Any]:
    """``start``/``end`` locate a text hit; -1 when the town came from the location field."""
    return {"name": town.name, "county": town.county, "lat": town.lat, "lon": town.lon, "found_in": found_in,
            "start": start, "end": end}


class TownFinder:
    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self.common = _common_words()

    def _sentence_initial(self, text: str, start: int) -> bool:
        before = text[:start].rstrip(" \t\"'“”«»(")
        # Emoji and other symbols open a new "sentence" in ads as often as full stops do.
        return not before or before[-1] in _SENTENCE_END or unicodedata.category(before[-1]).startswith("S")

    def _pick(self, towns: list[Town], anchor: Town | None) -> Town:
        if anchor is not None and len(towns) > 1:
            return min(towns, key=lambda t: _distance_km(t, anchor))
        return towns[0]

    def _accept(self, key: str, town: Town, text: str, start: int, end: int, prev_word: str, next_word: str,
                surface: str) -> bool:
        context = prev_word in _BEFORE or next_word in _AFTER or bool(_DATE_AFTER.match(text[end : end + 8]))
        capitalised = surface[:1].isupper()
        if key in self.common or len(key) <= 3:
            return context or (capitalised and not self._sentence_initial(text, start))
        if town.population >= _BIG or key in self.gazetteer.alias_keys or key != fold(town.name):
            return True
        return capitalised or context

    def find(self, text: str, location_field: str | None = None) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        anchor = self._from_field(location_field) if location_field else None
        if anchor is not None:
            found[anchor.name] = _as_dict(anchor, "location_field")
        words = list(_WORD.finditer(text))
        folded = [_fold_word(w.group()) for w in words]  # once per word, not once per window
        i = 0
        first_words = self.gazetteer.first_words
        while i < len(words):
            step = 1
            word = folded[i]
            if word not in first_words and not (word.endswith("s") and word[:-1] in first_words):
                i += 1
                continue
            for size in range(min(_MAX_WORDS, len(words) - i), 0, -1):
                span = words[i : i + size]
                start, end = span[0].start(), span[-1].end()
                if any(not text[a.end() : b.start()].isspace() for a, b in zip(span, span[1:], strict=False)):
                    continue
                surface = text[start:end]
                key = " ".join(folded[i : i + size])
                towns = self.gazetteer.candidates(key)
                if not towns and key.endswith("s") and len(key) > 4:  # genitive: "Gävles"
                    key = key[:-1]
                    towns = self.gazetteer.candidates(key)
                if not towns:
                    continue
                prev_word = folded[i - 1] if i else ""
                next_word = folded[i + size] if i + size < len(words) else ""
                town = self._pick(towns, anchor)
                if self._accept(key, town, text, start, end, prev_word, next_word, surface):
                    found.setdefault(town.name, _as_dict(town, "text", start, end))
                    step = size
                    break
            i += step
        return list(found.values())

    def _from_field(self, field: str) -> Town | None:
        town = self.gazetteer.resolve(field.strip())
        if town is not None:
            return town
        for part in re.split(r"[,/|()]|\s+-\s+", field):  # "Gävle, Gävleborg" or "Sandviken (Gävle)"
            town = self.gazetteer.resolve(part.strip())
            if town is not None:
                return town
        return None
