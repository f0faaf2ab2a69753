from __future__ import annotations

import pytest

from nlp.contacts import _MESSENGER_WORD, _may_name_messenger, find_contacts
from nlp.phones import find_phones


def contacts(text: str) -> list[tuple[str, str]]:
    return [(c["type"], c["value"]) for c in find_contacts(text, find_phones(text, "SE"))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Snap: Anna_X99", [("snapchat", "anna_x99")]),
        ("👻 lisa_g", [("snapchat", "lisa_g")]),
        ("kik - sofie.s", [("kik", "sofie.s")]),
        ("Telegram @AnnaHot", [("telegram", "annahot")]),
        ("t.me/annahot", [("telegram", "annahot")]),
        ("WhatsApp +46 70 174 06 05", [("whatsapp", "+46701740605")]),
        ("mejla Anna.X@Example.com", [("email", "anna.x@example.com")]),
        ("se mer på www.example.org/profile/anna", [("url", "example.org/profile/anna")]),
    ],
)
def test_contacts(text: str, expected: list[tuple[str, str]]) -> None:
    assert contacts(text) == expected


@pytest.mark.parametrize("text", ["WhatsApp only, no calls", "snap me", "only sms", "Ring mig", "kik or sms"])
def test_channel_words_without_a_handle(text: str) -> None:
    assert contacts(text) == []


@pytest.mark.parametrize("word", ["WhatsApp", "whats app", "Watsapp", "wa.me/46", "WA", "Telegram", "t.me/x", "TG",
                                  "Snapchat", "snap", "SC", "👻", "Kik", "Insta", "IG", "instagram.com/x", "Signal",
                                  "Viber", "Only Fans", "onlyfans.com/x"])
def test_the_cheap_messenger_test_never_hides_a_messenger(word: str) -> None:
    text = f"Hej! {word}: anna_x"
    assert _MESSENGER_WORD.search(text) is not None
    assert _may_name_messenger(text)


def test_the_cheap_messenger_test_passes_ads_without_messengers() -> None:
    assert not _may_name_messenger("Escort i Gävle, ring 070-174 06 05 ikväll")


def test_messenger_patterns_are_tried_where_a_messenger_name_starts() -> None:
    from nlp.contacts import _MESSENGER_STARTS

    assert {"whats", "wa", "t.me/", "snap", "sc", "👻", "kik", "ig"} <= set(_MESSENGER_STARTS)
    # A long s is an "s" to a case-blind pattern but not to str.lower(): the whole text is scanned then.
    assert contacts("ſnap: anna_x, WhatsApp +46 70 174 06 05") == [("snapchat", "anna_x"),
                                                                    ("whatsapp", "+46701740605")]
    assert contacts("Snap: anna_x, WhatsApp +46 70 174 06 05") == [("snapchat", "anna_x"),
                                                                    ("whatsapp", "+46701740605")]
