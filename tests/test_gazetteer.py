from __future__ import annotations

import pytest

from geo.build_gazetteer import render
from geo.gazetteer import Gazetteer, Town, fold, gazetteer
from tests.conftest import ROOT


def test_shipped_file_is_what_the_builder_makes() -> None:
    shipped = (ROOT / "geo" / "data" / "se_towns.tsv").read_text(encoding="utf-8")
    assert shipped == render("SE")


@pytest.mark.parametrize(
    ("name", "town", "county"),
    [
        ("Gävle", "Gävle", "Gävleborgs län"),
        ("gavle", "Gävle", "Gävleborgs län"),
        ("GÄVLE", "Gävle", "Gävleborgs län"),
        ("Gävles", "Gävle", "Gävleborgs län"),
        ("Göteborg", "Göteborg", "Västra Götalands län"),
        ("Gothenburg", "Göteborg", "Västra Götalands län"),
        ("Gbg", "Göteborg", "Västra Götalands län"),
        ("Sthlm", "Stockholm", "Stockholms län"),
        ("Sandviken centrum", "Sandviken", "Gävleborgs län"),
        ("Norrkoping", "Norrköping", "Östergötlands län"),
    ],
)
def test_resolve(name: str, town: str, county: str) -> None:
    found = gazetteer("SE").resolve(name)
    assert found is not None and (found.name, found.county) == (town, county)


@pytest.mark.parametrize("name", ["", None, "Atlantis", "xyzzy", "Paris"])
def test_unknown(name: str | None) -> None:
    assert gazetteer("SE").resolve(name) is None


def test_homonym_resolves_to_the_larger_place() -> None:
    small = Town("Storvik", "A", 1.0, 1.0, 600)
    big = Town("Storvik", "B", 2.0, 2.0, 2200)
    found = Gazetteer([small, big]).resolve("storvik")
    assert found is not None and found.county == "B"


def test_every_town_has_a_county_and_coordinates_in_sweden() -> None:
    towns = gazetteer("SE").towns
    assert len(towns) > 1000
    assert all(t.county for t in towns)
    assert all(55.0 < t.lat < 69.5 and 10.5 < t.lon < 24.5 for t in towns)


def test_fold() -> None:
    assert fold("  Å  Ä Ö  ") == "a a o"
