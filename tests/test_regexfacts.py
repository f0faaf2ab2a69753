"""The texts every match of a pattern must contain: the indicator prefilter relies on them."""

from __future__ import annotations

import re

import pytest

from nlp.indicators import Blocker, Entry, load_lexicons
from nlp.regexfacts import required_factors


@pytest.mark.parametrize(
    ("pattern", "first"),
    [
        (r"hotel(ul|uri|urile|ului)", ("hotelul", "hotelului", "hoteluri", "hotelurile")),
        (r"(room|rm)\s*\d{3,4}", ("rm", "room")),  # the parser's "r" + (oom|m), put back together
        (r"t[âa]n[ăa]r[ăa]", ("tanara", "tanară", "tanăra", "tanără", "tânara", "tânară", "tânăra", "tânără")),
        (r"hostel|b\s*&\s*b", ("&", "hostel")),  # a rare symbol selects as well as two letters
        (r"\w*[🎀🧸]+", ("🎀", "🧸")),
    ],
)
def test_strongest_factor(pattern: str, first: tuple[str, ...]) -> None:
    assert required_factors(pattern)[0] == first


@pytest.mark.parametrize("pattern", [r"\d{2}/\d{2}", r"a|b", r"(?:x)?y?", r"-\s*-"])
def test_no_strong_factor_when_nothing_selective_is_required(pattern: str) -> None:
    assert required_factors(pattern) == []


def test_weak_factors_on_request() -> None:
    assert ("/",) in required_factors(r"\d{1,2}/\d{1,2}", min_length=1)


def test_every_factor_of_every_lexicon_pattern_holds_in_its_positive_examples() -> None:
    entries, blockers, _ = load_lexicons()
    checked = 0
    items: list[Entry | Blocker] = [*entries, *blockers]
    for item in items:
        compiled = re.compile(item.pattern, re.IGNORECASE)
        for example in item.positive:
            for match in compiled.finditer(example):
                lowered = match.group().lower()
                for factor in required_factors(item.pattern, min_length=1):
                    assert any(text in lowered for text in factor), (item.id, example, factor)
                checked += 1
    assert checked > 300
