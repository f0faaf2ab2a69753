"""Contact handles other than phone numbers: messengers, e-mail, links to other profiles.

Each contact: ``{"type", "value", "raw", "start", "end"}`` with ``value`` normalized
(lowercase handle without "@", lowercase e-mail, URL without scheme and "www.").
A messenger named with a phone number ("WhatsApp +46 70…") is recorded with the
number's E.164 as its value, so it links to the phone registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import ahocorasick

from nlp.phones import PhoneHit
from nlp.regexfacts import case_blind_spots, leading_texts

_HANDLE = r"@?(?P<handle>[A-Za-z][\w.\-]{1,31})"
_MESSENGERS = {
    "whatsapp": r"whats\s*app|watsapp|whatsap|wa\.me/|\bwa\b",
    "telegram": r"telegram|t\.me/|\btg\b",
    "snapchat": r"snap\s*chat|\bsnap\b|\bsc\b|👻",
    "kik": r"\bkik\b",
    "instagram": r"insta(?:gram)?\b|\big\b|instagram\.com/",
    "signal": r"\bsignal\b",
    "viber": r"\bviber\b",
    "onlyfans": r"only\s*fans|onlyfans\.com/",
}
# "snap: anna_x", "Telegram @anna", "t.me/anna", "kik - anna99"
_MESSENGER_HANDLE = re.compile(
    r"(?P<kind>" + "|".join(f"(?P<{k}>{v})" for k, v in _MESSENGERS.items()) + r")"
    r"(?:\s*(?:[:=\-–>]|id|namn|name|user(?:name)?)\s*|\s+|(?<=/))" + _HANDLE,
    re.IGNORECASE,
)
_MESSENGER_WORD = re.compile(r"(?P<kind>" + "|".join(f"(?P<{k}>{v})" for k, v in _MESSENGERS.items()) + r")",
                             re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')]+", re.IGNORECASE)
# What a messenger word contains: a cheap test that spares most ads the regex scan.
_MESSENGER_TEXTS = ("whats", "watsap", "wa.me", "telegram", "t.me", "snap", "👻", "insta", "signal", "viber", "only")
_MESSENGER_WORDS = frozenset({"wa", "tg", "sc", "kik", "ig"})
_WORDS = re.compile(r"\w+")


# Every match of the two messenger patterns starts with one of these texts ("whats", "wa",
# "t.me/", "👻" …): the patterns are tried only where one occurs.
_MESSENGER_STARTS = leading_texts(_MESSENGER_WORD.pattern, min_length=1) or ()
_HANDLE_STARTS = leading_texts(_MESSENGER_HANDLE.pattern, min_length=1) or ()


def _starts_finder(texts: tuple[str, ...]) -> ahocorasick.Automaton | None:
    if not texts:
        return None
    finder = ahocorasick.Automaton()
    for text in texts:
        finder.add_word(text, len(text))
    finder.make_automaton()
    return finder


_FINDERS = {_MESSENGER_WORD: _starts_finder(_MESSENGER_STARTS), _MESSENGER_HANDLE: _starts_finder(_HANDLE_STARTS)}
# Characters the patterns match to a leading text's letter that lowercasing does not turn into it.
_BLIND = case_blind_spots(_MESSENGER_STARTS + _HANDLE_STARTS)


def _finditer(regex: re.Pattern[str], text: str, lowered: str) -> Iterator[re.Match[str]]:
    """``regex.finditer(text)``, trying only where a leading text occurs in the lowercase text
    (when that text has the same offsets and holds none of the characters it would hide)."""
    finder = _FINDERS.get(regex)
    if finder is None or len(lowered) != len(text) or (_BLIND is not None and _BLIND.search(text)):
        yield from regex.finditer(text)
        return
    free = 0
    for start in sorted({end - size + 1 for end, size in finder.iter(lowered)}):
        if start >= free and (match := regex.match(text, start)) is not None:
            yield match
            free = max(match.end(), start + 1)


def _may_name_messenger(text: str) -> bool:
    lowered = text.lower()
    return (any(t in lowered for t in _MESSENGER_TEXTS)
            or not _MESSENGER_WORDS.isdisjoint(_WORDS.findall(lowered)))


# Words a handle pattern catches that are not handles ("WhatsApp only", "snap me").
_NOT_HANDLES = frozenset(
    "only me mig endast bara och and or eller sms ring call calls text dm available finns på on via is är "
    "or och with med also också".split()
)


def _kind(match: re.Match[str]) -> str:
    return next(name for name in _MESSENGERS if match.group(name))


def find_contacts(text: str, phones: list[PhoneHit]) -> list[dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def add(kind: str, value: str, start: int, end: int) -> None:
        found.setdefault((kind, value), {"type": kind, "value": value, "raw": text[start:end],
                                         "start": start, "end": end})

    emails = [m.span() for m in _EMAIL.finditer(text)] if "@" in text else []
    for start, end in emails:
        add("email", text[start:end].lower(), start, end)
    lowered = text.lower()
    has_messenger = _may_name_messenger(text) and next(_finditer(_MESSENGER_WORD, text, lowered), None) is not None
    for match in _URL.finditer(text) if ("www." in text or "://" in text) else ():
        url = re.sub(r"^(?:https?://)?(?:www\.)?", "", match.group().rstrip(".,;:!?"), flags=re.I).lower()
        kind = next((k for k, pattern in _MESSENGERS.items() if "/" in pattern and re.match(pattern, url, re.I)),
                    "url")
        value = url.split("/", 1)[1].split("?")[0].strip("/") if kind != "url" and "/" in url else url
        add(kind, value, *match.span())
    for match in _finditer(_MESSENGER_HANDLE, text, lowered) if has_messenger else ():
        handle = match.group("handle").rstrip(".-").lower()
        if handle in _NOT_HANDLES or any(a <= match.start("handle") < b for a, b in emails):
            continue
        add(_kind(match), handle, match.start(), match.end())
    # A messenger word just before a phone number: the number is that messenger's id.
    for match in _finditer(_MESSENGER_WORD, text, lowered) if has_messenger and phones else ():
        following = next((p for p in phones if 0 <= p.start - match.end() <= 12), None)
        if following is not None:
            add(_kind(match), following.e164, match.start(), following.end)
    return sorted(found.values(), key=lambda c: c["start"])
