"""Contact handles other than phone numbers: messengers, e-mail, links to other profiles.

Each contact: ``{"type", "value", "raw", "start", "end"}`` with ``value`` normalized
(lowercase handle without "@", lowercase e-mail, URL without scheme and "www.").
A messenger named with a phone number ("WhatsApp +46 70…") is recorded with the
number's E.164 as its value, so it links to the phone registry.
"""

from __future__ import annotations

import re
from typing import Any

from nlp.phones import PhoneHit

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
    has_messenger = _may_name_messenger(text) and _MESSENGER_WORD.search(text) is not None
    for match in _URL.finditer(text) if ("www." in text or "://" in text) else ():
        url = re.sub(r"^(?:https?://)?(?:www\.)?", "", match.group().rstrip(".,;:!?"), flags=re.I).lower()
        kind = next((k for k, pattern in _MESSENGERS.items() if "/" in pattern and re.match(pattern, url, re.I)),
                    "url")
        value = url.split("/", 1)[1].split("?")[0].strip("/") if kind != "url" and "/" in url else url
        add(kind, value, *match.span())
    for match in _MESSENGER_HANDLE.finditer(text) if has_messenger else ():
        handle = match.group("handle").rstrip(".-").lower()
        if handle in _NOT_HANDLES or any(a <= match.start("handle") < b for a, b in emails):
            continue
        add(_kind(match), handle, match.start(), match.end())
    # A messenger word just before a phone number: the number is that messenger's id.
    for match in _MESSENGER_WORD.finditer(text) if has_messenger and phones else ():
        following = next((p for p in phones if 0 <= p.start - match.end() <= 12), None)
        if following is not None:
            add(_kind(match), following.e164, match.start(), following.end)
    return sorted(found.values(), key=lambda c: c["start"])
