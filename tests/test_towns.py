from __future__ import annotations

import pytest

from geo.gazetteer import gazetteer
from nlp.towns import TownFinder

FINDER = TownFinder(gazetteer("SE"))


def names(text: str, field: str | None = None) -> list[str]:
    return [t["name"] for t in FINDER.find(text, field)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ny i Vara! Det kan vara skönt.", ["Vara"]),
        ("Bara idag i Kil", ["Kil"]),
        ("in Mora this week. Lit party!", ["Mora"]),
        ("Sala centrum, sen Lund", ["Sala", "Lund"]),
        ("Tour: Gävle 2/12, Sandviken 4/12, Falun 6/12", ["Gävle", "Sandviken", "Falun"]),
        ("Jag bor i gävle, besöker Gbg och Stockholms city", ["Gävle", "Göteborg", "Stockholm"]),
        ("Visiting Gothenburg and Norrkoping", ["Göteborg", "Norrköping"]),
        ("Привет из Стокгольм", ["Stockholm"]),
        ("Massage Stockholm", ["Stockholm"]),
        ("Göteborgs bästa", ["Göteborg"]),
    ],
)
def test_towns_in_text(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Det kan vara skönt", "Bara idag!", "Vi ses på bron", "Ett berg av kärlek", "Nya trosor och strumpor",
     "Or maybe not", "Lit evening", "Thai massage, Paris style"],
)
def test_ordinary_words_are_not_towns(text: str) -> None:
    assert names(text) == []


def test_location_field_comes_first_and_odd_spellings_resolve() -> None:
    assert names("Ring mig", "Sthlm") == ["Stockholm"]
    assert names("Besöker Gävle", "Sandviken (Gävleborg)") == ["Sandviken", "Gävle"]
    assert names("", "gavle") == ["Gävle"]
    assert names("", "Hela Sverige") == []


def test_offsets_point_at_the_name() -> None:
    text = "Hej från Gävle!"
    (town,) = FINDER.find(text)
    assert text[town["start"] : town["end"]] == "Gävle" and town["found_in"] == "text"
    assert town["county"] == "Gävleborgs län" and 60 < town["lat"] < 61
