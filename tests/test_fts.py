from __future__ import annotations

from pathlib import Path

import pytest

from index.fts import FtsQuery, QueryError, to_fts
from index.query import SearchQuery


@pytest.mark.parametrize(
    ("text", "positive", "negative"),
    [
        ("ny i stan", '"ny" AND "i" AND "stan"', None),
        ('"ny i stan"', '"ny i stan"', None),
        ("massage -thai", '"massage"', '"thai"'),
        ('tjej -"ny i stan"', '"tjej"', '"ny i stan"'),
        ("gävle OR sandviken", '("gävle" OR "sandviken")', None),
        ("a OR b c", '("a" OR "b") AND "c"', None),
        ("OR a", '"a"', None),
        ("a OR", '"a"', None),
        ("mass*", '"mass"*', None),
        ("-only", None, '"only"'),
        ('"unclosed phrase', '"unclosed phrase"', None),
        ("(young OR teen", '("young" OR "teen")', None),
        ("x AND y", '"x" AND "AND" AND "y"', None),
        ("", None, None),
        ("070-174", '"070-174"', None),
    ],
)
def test_translation(text: str, positive: str | None, negative: str | None) -> None:
    assert to_fts(text) == FtsQuery(positive, negative)


@pytest.mark.parametrize(
    "hostile",
    ["'; DROP TABLE ads; --", 'a" OR 1=1 --', "NEAR(a b)", "title:secret", "^start", '"""', "a NOT b",
     "{col1 col2}: x", "*", "x**", "-(-(-x))", "\x00", "' OR ''='"],
)
def test_output_is_always_quoted_strings(hostile: str) -> None:
    try:
        fts = to_fts(hostile)
    except QueryError:  # nothing to search ('"""', "*"): refused, which injects nothing either
        return
    for expr in (fts.positive, fts.negative):
        if expr is None:
            continue
        # Between the quoted strings only AND, OR, parentheses, spaces and prefix stars remain.
        outside = expr
        while '"' in outside:
            start = outside.index('"')
            end = outside.index('"', start + 1)
            outside = outside[:start] + outside[end + 1 :]
        assert set(outside.replace("AND", "").replace("OR", "")) <= set(" ()*"), expr


@pytest.mark.parametrize("nothing", ['"', "*", "-", "((((", '" * ( ) -', "OR", '-"', "  ()  "])
def test_text_that_parses_to_nothing_is_refused_not_every_ad(nothing: str) -> None:
    with pytest.raises(QueryError, match="has no words to search"):
        to_fts(nothing)


@pytest.mark.parametrize("blank", ["", "   "])
def test_no_text_still_means_every_ad(blank: str) -> None:
    assert to_fts(blank) == FtsQuery(None, None)


def test_control_characters_separate_words_and_never_break_fts5(tmp_path: Path) -> None:
    """A NUL inside a term ended FTS5's quoted string: "unterminated string", a 500 in the web UI."""
    from index.sqlite import SqliteStore

    assert to_fts("ab\x00cd").positive == '"ab cd"'
    assert to_fts("\x00\x1b[31m").positive == '"31m"'
    store = SqliteStore(tmp_path / "t.db")
    try:
        for text in ("\x00", "a\x00b", "\x1b[31m red", "x\x7fy", '"\x00"'):
            try:
                store.search(SearchQuery(text=text))
            except QueryError:
                pass  # nothing to search: a clear error, never SQLite's
    finally:
        store.close()
