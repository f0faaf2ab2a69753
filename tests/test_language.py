from __future__ import annotations

import pytest

from nlp.language import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hej! Jag är ny i stan och väntar på dig. Ring mig ikväll.", "sv"),
        ("Hi guys, I am new in town, call me tonight for a nice time.", "en"),
        ("Cześć, jestem nowa w mieście, zadzwoń do mnie kochanie.", "pl"),
        ("Bună, sunt nouă în oraș, sună-mă pentru o seară frumoasă.", "ro"),
        ("Привет, я новенькая в городе, звони мне вечером.", "ru"),
        ("Hei, jeg er ny i byen og venter på deg i kveld.", "other"),
        ("Hola, soy nueva en la ciudad, llámame esta noche.", "other"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_too_little_text() -> None:
    assert detect_language("ok 070") is None
