"""Indicator lexicons: every entry's own examples, the blockers, the score rules, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.indicators import CATEGORIES, DATA, Entry, IndicatorMatcher, LexiconError, indicator_matcher, load_lexicons

ENTRIES, BLOCKERS, WEIGHTS = load_lexicons()
MATCHER = indicator_matcher()


def test_every_language_and_category_is_covered() -> None:
    languages = {e.id.split(".")[0] for e in ENTRIES}
    assert languages == {"sv", "en", "pl", "ro", "ru"}
    for language in ("sv", "en"):
        covered = {e.category for e in ENTRIES if e.id.startswith(language + ".")}
        assert covered == set(CATEGORIES), language
    assert all(e.positive and e.negative for e in ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_matches_its_positives(entry: Entry) -> None:
    for text in entry.positive:
        assert MATCHER.entry_hits(entry, text), f"{entry.id} misses {text!r}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_stays_quiet_on_its_negatives(entry: Entry) -> None:
    for text in entry.negative:
        assert not MATCHER.entry_hits(entry, text), f"{entry.id} fires on {text!r}"


@pytest.mark.parametrize("blocker", BLOCKERS, ids=lambda b: b.id)
def test_blocker_matches_its_positives(blocker: object) -> None:
    import re

    from nlp.indicators import _wrap

    for text in blocker.positive:  # type: ignore[attr-defined]
        assert re.search(_wrap(blocker.pattern), text, re.IGNORECASE), text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Jag är 19 år och ny här", "youth"),
        ("Age: 18, sweet", "youth"),
        ("I'm 20 and fun", "youth"),
        ("Мне 19 лет", "youth"),
        ("Hon är 20, jag 22", "youth"),
        ("Sunt Andreea, 20 de ani", "youth"),
        ("Young Thai girl 19, new in town", "youth"),
        ("Dwie dziewczyny, 19 i 22 lata", "youth"),
    ],
)
def test_stated_age_under_21_is_youth(text: str, category: str) -> None:
    assert category in {h.category for h in MATCHER.find(text)}


@pytest.mark.parametrize("text", ["Jag är 25 år", "168 cm, 19:00 idag", "Pris 19 kr", "I'm 21", "room 19",
                                  "The room is 19 m2", "Session is 20 minutes", "Hon är 25", "kl 18-22"])
def test_other_numbers_are_not_youth(text: str) -> None:
    assert "code.youth.stated_age" not in {h.rule for h in MATCHER.find(text)}


def test_movement_alone_never_flags_and_categories_are_capped() -> None:
    movement = MATCHER.find("Ny i stan! New in town, only 3 days, on tour, bara några dagar, besöker Gävle")
    assert {h.category for h in movement} == {"movement"} and len(movement) >= 3
    assert MATCHER.score(movement, obfuscated_phone=False) == WEIGHTS["categories"]["movement"]
    assert MATCHER.score(movement, obfuscated_phone=False) < MATCHER.flag_threshold
    strong = MATCHER.find("Rumänsk tjej, 19 år, endast SMS, hon väntar på dig")
    assert MATCHER.score(strong, obfuscated_phone=True) >= MATCHER.flag_threshold


def test_hits_carry_offsets_rule_and_phrase() -> None:
    text = "Hej! Ny i stan."
    (hit,) = [h for h in MATCHER.find(text) if h.category == "movement"]
    assert text[hit.start : hit.end] == hit.phrase and hit.rule.startswith("sv.movement.")


def write(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text(body, encoding="utf-8")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("entries:\n  - {id: x.a.b, category: nope, pattern: a, evidence: practice}\n", "unknown category"),
        ("entries:\n  - {id: x.a.b, category: youth, pattern: '(', evidence: practice}\n", "invalid pattern"),
        ("entries:\n  - {id: x.a.b, category: youth, pattern: a, evidence: hearsay}\n", "evidence"),
        ("entries:\n  - {id: x.a.b, category: youth, pattern: a, evidence: practice}\n"
         "  - {id: x.a.b, category: youth, pattern: b, evidence: practice}\n", "duplicate id"),
        ("blockers:\n  - {id: x.b, cancels: [nope], pattern: a}\n", "cancels"),
    ],
)
def test_bad_lexicon_files_are_refused(tmp_path: Path, body: str, message: str) -> None:
    write(tmp_path, "weights.yaml", (DATA / "weights.yaml").read_text(encoding="utf-8"))
    write(tmp_path, "xx.yaml", body)
    with pytest.raises(LexiconError, match=message):
        load_lexicons(tmp_path)


def test_prefiltered_matching_equals_a_plain_scan() -> None:
    """Skipping patterns whose required text is absent must not change a single hit."""
    import re

    from nlp.indicators import _wrap

    text = ("Ny i Gävle! Rumänsk tjej, bara några dagar. Endast SMS. Hotell incall. Two Romanian girls, only sms, "
            "no calls. Hon väntar på dig 24/7 på hotellet. Nowa w mieście, tylko SMS. Новенькая, только СМС. "
            "Rum 214, 🎀 young, she is waiting, new girls every week, bareback, dygnet runt, no Swedish.")
    plain = IndicatorMatcher(ENTRIES, [], WEIGHTS)
    got = {(h.category, h.start, h.end) for h in plain._raw_hits(text) if not h.rule.startswith("code.")}
    expected = set()
    for category in CATEGORIES:
        spans = sorted((m.start(), i, m.end()) for i, e in enumerate(ENTRIES) if e.category == category
                       for m in re.finditer(_wrap(e.pattern), text, re.IGNORECASE))
        end = -1
        for start, _, stop in spans:  # leftmost, non-overlapping, earlier entry first at one start
            if start >= end and stop > start:
                expected.add((category, start, stop))
                end = stop
    assert len(got) >= 15 and got == expected


def test_trying_patterns_only_where_their_leading_texts_start_finds_the_same_hits() -> None:
    texts = [t for e in ENTRIES for t in (*e.positive, *e.negative)]
    separators = [" ", "\n", "_", "x", ". "]
    mixed = [separators[i % 5].join(texts[i : i + 3]) for i in range(0, len(texts), 2)]
    tried = 0
    for text in texts + mixed:
        scanned, plain = MATCHER.scan(text), MATCHER.scan(text, positions=False)
        assert MATCHER._raw_hits(text, scanned) == MATCHER._raw_hits(text, plain)
        assert MATCHER.blocked_spans(text, scanned) == MATCHER.blocked_spans(text, plain)
        tried += bool(scanned.found) and plain.lowered is None
    assert tried > 500


def test_a_text_that_lowercasing_would_hide_a_match_in_is_scanned_whole() -> None:
    for text in ("Endaſt sms, bara här till fredag", "İn town only 3 days", "ONLY SMS, here until Friday"):
        scanned = MATCHER.scan(text)
        assert (scanned.lowered is None) == (text[0] in "Eİ")
        assert MATCHER._raw_hits(text, scanned) == MATCHER._raw_hits(text, MATCHER.scan(text, positions=False))
