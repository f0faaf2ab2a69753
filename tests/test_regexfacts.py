"""The texts every match of a pattern must contain: the indicator prefilter relies on them."""

from __future__ import annotations

import re

import pytest

from nlp import regexfacts
from nlp.indicators import Blocker, Entry, load_lexicons
from nlp.regexfacts import ParserChanged, case_blind_spots, leading_texts, parse, required_factors


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


def test_the_private_regex_parser_is_the_one_this_module_reads() -> None:
    """``nlp/regexfacts.py`` reads Python's private ``re._parser``: a Python that moves or
    reshapes it fails here with the reason (the prefilter then runs every pattern)."""
    try:
        items = parse(r"ab[cd](ef|gh)+i*?")
    except ParserChanged as exc:
        pytest.fail(str(exc))
    assert [str(op) for op, _ in items] == ["LITERAL", "LITERAL", "IN", "MAX_REPEAT", "MIN_REPEAT"]
    low, high, body = items[3][1]
    assert (low, [str(op) for op, _ in body]) == (1, ["SUBPATTERN"])
    assert str(body[0][1][-1][0][0]) == "BRANCH"  # (ef|gh): a branch inside the group
    assert required_factors(r"ab[cd](ef|gh)+i*?") == [("abc", "abd"), ("ef", "gh")]


def test_without_the_private_parser_it_says_so_and_degrades(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regexfacts, "_PRIVATE", None)
    parse.cache_clear()
    with pytest.raises(ParserChanged, match="re._parser"):
        parse("hotel")
    assert required_factors("hotel") == [] and leading_texts("hotel") is None  # every pattern runs
    monkeypatch.undo()
    assert required_factors("hotel") == [("hotel",)] and leading_texts("hotel") == ("hotel",)


@pytest.mark.parametrize(
    ("pattern", "texts"),
    [
        (r"(bara|endast)\s+sms", ("bara", "endast")),
        (r"hotel(ul|uri)", ("hotelul", "hoteluri")),
        (r"Only\s+SMS|WhatsApp\s+only", ("only", "whatsapp")),
        (r"(?-i:Finnish|FINNISH)\s+girl", ("finnish",)),
    ],
)
def test_leading_texts(pattern: str, texts: tuple[str, ...]) -> None:
    assert leading_texts(pattern) == texts


@pytest.mark.parametrize("pattern", [r"\w*hotel", r"(brand\s+)?new", r"i\s+am", r"[a-z]ung", r"(?=x)xy", r"hotel|x"])
def test_no_leading_texts_when_a_match_may_start_otherwise(pattern: str) -> None:
    assert leading_texts(pattern) is None


def test_every_lexicon_match_starts_with_one_of_its_leading_texts() -> None:
    entries, blockers, _ = load_lexicons()
    checked = 0
    items: list[Entry | Blocker] = [*entries, *blockers]
    for item in items:
        lead = leading_texts(item.pattern)
        if lead is None:
            continue
        for example in item.positive:
            for match in re.finditer(item.pattern, example, re.IGNORECASE):
                assert match.group().lower().startswith(lead), (item.id, example, lead)
                checked += 1
    assert checked > 200


def test_case_blind_spots() -> None:
    blind = case_blind_spots(["snap", "tg"])
    assert blind is not None and blind.search("ſnap") and not blind.search("SNAP TG Snap")
    assert case_blind_spots(["👻", "123"]) is None
    dotless = case_blind_spots(["in"])
    assert dotless is not None and dotless.search("ın") and dotless.search("İn")
