"""Towns: the site's location field first, then unambiguous town names in the text."""

from __future__ import annotations

import re
from typing import Any

from geo.gazetteer import Gazetteer, Town, fold

# Capitalised words (with Swedish letters), optionally two of them ("Upplands Väsby").
_CANDIDATE = re.compile(r"\b([A-ZÅÄÖÉ][\wåäöéü-]+(?:\s[A-ZÅÄÖÉ][\wåäöéü-]+)?)")
# Text matches only for towns big enough that a capitalised hit is rarely something else;
# the NLP issue replaces this with context rules for the small and homonymous ones.
_MIN_POPULATION_IN_TEXT = 20_000


def _as_dict(town: Town, found_in: str) -> dict[str, Any]:
    return {"name": town.name, "county": town.county, "lat": town.lat, "lon": town.lon, "found_in": found_in}


class TownFinder:
    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self._text_towns = {fold(t.name): t for t in gazetteer.names_at_least(_MIN_POPULATION_IN_TEXT)}

    def find(self, text: str, location_field: str | None = None) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        located = self.gazetteer.resolve(location_field.strip()) if location_field else None
        if located:
            found[located.name] = _as_dict(located, "location_field")
        for match in _CANDIDATE.finditer(text):
            phrase = match.group(1)
            for candidate in (phrase, phrase.split()[0]):
                key = fold(candidate)
                town = self._text_towns.get(key) or self._text_towns.get(key.removesuffix("s"))
                if town and town.name not in found:
                    found[town.name] = _as_dict(town, "text")
                    break
        return list(found.values())
