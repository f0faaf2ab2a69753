from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adwatch.core.clock import iso, parse_since
from pipelines.textclean import html_to_text, parse_age, parse_posted, parse_price


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hej</p><p>då</p>", "Hej\n\ndå"),
        ("rad ett<br>rad två", "rad ett\nrad två"),
        ("<div>unclosed <b>bold <p>para", "unclosed bold\npara"),
        ("<script>var x=1</script>Text", "Text"),
        ("Ring&nbsp;070&amp;mer", "Ring 070&mer"),
        ("０７０ full width", "070 full width"),  # NFKC
        ("  many    spaces\t\there ", "many spaces here"),
        ("plain text, no tags", "plain text, no tags"),
        ("a < b > c", "a < b > c"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-20T14:03:00+01:00", "2026-11-20T13:03:00Z"),
        ("2026-07-20 14:03", "2026-07-20T12:03:00Z"),  # naive: Stockholm summer time
        ("2026-11-20 14:03", "2026-11-20T13:03:00Z"),  # naive: Stockholm winter time
        ("idag 09:15", "2026-11-28T08:15:00Z"),
        ("igår kl. 22.30", "2026-11-27T21:30:00Z"),
        ("yesterday 10:00", "2026-11-27T09:00:00Z"),
        ("05/11/2026 10:00", "2026-11-05T09:00:00Z"),  # day first
    ],
)
def test_parse_posted(raw: str, expected: str) -> None:
    moment = parse_posted(raw, "Europe/Stockholm", now=NOW)
    assert moment is not None and iso(moment) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "snart", "99/99/9999 99:99", "idag 25:00", "igår 9.75"])
def test_parse_posted_rejects(raw: str | None) -> None:
    assert parse_posted(raw, "Europe/Stockholm", now=NOW) is None


@pytest.mark.parametrize(("raw", "age"), [("23 år", 23), ("Age: 19", 19), ("12", None), ("150", None),
                                          (None, None), ("ung", None), (31, 31)])
def test_parse_age(raw: str | int | None, age: int | None) -> None:
    assert parse_age(raw) == age


@pytest.mark.parametrize(("raw", "price"), [("1 500 kr", (1500, "SEK")), ("2000:-", (2000, "SEK")),
                                            ("150 EUR", (150, "EUR")), ("€200", (200, "EUR")),
                                            ("gratis", (None, None)), (None, (None, None)), ("3000", (3000, None)),
                                            ("1500.00 kr", (1500, "SEK")), ("1 500,50 kr", (1500, "SEK")),
                                            ("500\n1000\n1500\n2000\n2500\n3000 kr", (500, "SEK")),
                                            ("9" * 30, (None, None))])
def test_parse_price(raw: str | None, price: tuple[int | None, str | None]) -> None:
    assert parse_price(raw) == price


def test_parse_since() -> None:
    assert parse_since("7d", now=NOW) == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now=NOW) == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="time span"):
        parse_since("last tuesday")


def test_html_to_text_keeps_a_huge_text_node() -> None:
    text = html_to_text("<div>Ring 070-174 06 14. " + "bla " * 2_700_000 + "</div>")
    assert text.startswith("Ring 070-174 06 14. bla") and len(text) > 10_000_000
