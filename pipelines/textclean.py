"""HTML → clean text, the small parsers (dates, ages, prices), and ``normalize_fields``, which
applies them to one ad: the normalize stage's work as a pure function."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser
from lxml import etree
from lxml import html as lxml_html

from adwatch.core.clock import iso

_BLOCKS = frozenset("p div li tr h1 h2 h3 h4 h5 h6 section article dd dt blockquote".split())
# libxml2 silently drops a text node over 10 MB unless told otherwise (parsel does the same).
_HUGE_OK = lxml_html.HTMLParser(huge_tree=True)
_MARKUP = re.compile(r"<[a-zA-Z!/]|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
# Characters no clean text keeps: C0 controls but tab and line breaks, DEL, C1 controls,
# lone surrogates and the two non-characters XML forbids. lxml refuses most of them (so
# an ad holding one was lost), and a terminal would obey the rest. Each becomes a space:
# the offsets of what is left do not matter yet, and two words never merge.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_TAG = re.compile(r"<[^>]*>")
# A numeric character reference: the parser would turn one naming a control into the control.
_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")


def _blank_control_reference(match: re.Match[str]) -> str:
    code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    if code > 0x10FFFF or _CONTROL.match(chr(code)) or code == 0:
        return " "
    return match.group(0)
_SPACES = re.compile(r"[^\S\n]+")
_BLANKS = re.compile(r"\n{3,}")
_INT = re.compile(r"\d+")
_RELATIVE = re.compile(r"^(idag|i dag|today|igår|i går|yesterday)\s*,?\s*(?:kl\.?\s*)?(\d{1,2})[:.](\d{2})$", re.I)
_AMOUNT = re.compile(r"(?<!\d)(?P<whole>\d{1,3}(?:[ .\u00a0]\d{3})+|\d+)(?:[.,]\d{1,2})?(?!\d)")
_MAX_PRICE = 10_000_000
_CURRENCIES = (("€", "EUR"), ("eur", "EUR"), ("$", "USD"), ("usd", "USD"), ("sek", "SEK"), ("kr", "SEK"),
               (":-", "SEK"))


def html_to_text(value: str) -> str:
    """Tags out, block elements as line breaks, NFKC, spaces folded, blank lines kept short.

    lxml directly rather than BeautifulSoup: this runs for every field of every ad,
    and BeautifulSoup cost the crawl most of its pipeline time.
    """
    value = _CONTROL.sub(" ", value)
    if _MARKUP.search(value):
        # A reference (&#27;) would become the control it names: blanked before the parser sees it.
        value = _markup_text(_REFERENCE.sub(_blank_control_reference, value) if "&#" in value else value)
    value = unicodedata.normalize("NFKC", value)
    lines = [_SPACES.sub(" ", line).strip() for line in value.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _markup_text(value: str) -> str:
    try:
        root = lxml_html.fromstring(value, parser=_HUGE_OK)
    except (etree.ParserError, ValueError):  # nothing parseable (only a comment, say)
        return value
    etree.strip_elements(root, "head", "script", "style", "noscript", etree.Comment, with_tail=False)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == "br":
            element.tail = "\n" + (element.tail or "")
        elif element.tag in _BLOCKS:
            element.text = "\n" + (element.text or "")
            element.tail = "\n" + (element.tail or "")
    return str(root.text_content())


def parse_posted(value: str | None, zone: str, now: datetime | None = None) -> datetime | None:
    """A page's date → aware datetime; a date without offset is in the source's time zone."""
    if not value or not value.strip():
        return None
    text = value.strip()
    tz = ZoneInfo(zone)
    relative = _RELATIVE.match(text)
    if relative:
        local_now = (now or datetime.now(UTC)).astimezone(tz)
        day = local_now.date() - timedelta(days=0 if relative.group(1).lower() in ("idag", "i dag", "today") else 1)
        try:
            return datetime(day.year, day.month, day.day, int(relative.group(2)), int(relative.group(3)), tzinfo=tz)
        except ValueError:  # "idag 25:00"
            return None
    try:  # ISO 8601 (most sites, <time datetime>) without dateutil's slower guessing
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    try:
        # Day before month, as Swedish and most European sites write it ("05/11/2026" is 5 November).
        moment = moment or dateparser.parse(text, dayfirst=True)
    except (ValueError, OverflowError):
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def parse_age(value: str | int | None) -> int | None:
    if value is None:
        return None
    for match in _INT.findall(str(value)):
        age = int(match)
        if 16 <= age <= 99:
            return age
    return None


def parse_price(value: str | int | None) -> tuple[int | None, str | None]:
    if value is None:
        return None, None
    text = str(value).lower()
    # The first amount only ("1 500 kr", "1500.00 kr", "1 500,50"): thousands separated by a
    # single space or dot, decimals dropped. A list of prices on several lines is not one number.
    match = _AMOUNT.search(text)
    if not match:
        return None, None
    amount = int(re.sub(r"[ .\u00a0]", "", match.group("whole")))
    if amount > _MAX_PRICE:
        return None, None
    currency = next((code for mark, code in _CURRENCIES if mark in text), None)
    return amount, currency


_CLEANED = ("title", "text", "location", "poster", "phone_field")
_SHORT = ("title", "location", "poster", "phone_field", "posted_at", "age", "price")  # capped at max_field_chars
# What normalize reads of an ad: what is sent to the worker.
INPUT_FIELDS = (*_CLEANED, "posted_at", "timezone", "age", "price", "images", "url", "evidence")


@dataclass(frozen=True)
class Caps:
    """How much of each field an ad keeps (ADWATCH_MAX_TEXT_CHARS, ADWATCH_MAX_FIELD_CHARS,
    ADWATCH_MAX_IMAGES): a hostile page cannot make a field big enough to break a later stage."""

    text: int = 20_000
    field: int = 1_000
    images: int = 100


def _cap(fields: dict[str, Any], raw: Mapping[str, Any], caps: Caps, cut: dict[str, int]) -> None:
    for name in ("text", *_SHORT):
        value = fields.get(name, raw.get(name))
        limit = caps.text if name == "text" else caps.field
        if isinstance(value, str) and len(value) > limit:
            fields[name] = value[:limit]
            cut[name] = len(value)
    images = [url for url in raw.get("images") or [] if isinstance(url, str)]
    kept = [url for url in dict.fromkeys(images) if len(url) <= caps.field][: caps.images]
    if len(kept) < len(dict.fromkeys(images)):
        cut["images"] = len(images)
    fields["images"] = kept


def normalize_fields(raw: Mapping[str, Any], caps: Caps) -> dict[str, Any]:
    """``{"fields": cleaned values, "events": [stat names], "dropped": reason or None,
    "bad_date": the unreadable date or None}`` for one ad's raw fields.

    A field longer than its cap is cut, and never silently: its name and original length go
    into ``evidence["truncated"]`` and an event ``<field>_truncated``."""
    fields: dict[str, Any] = {}
    for name in _CLEANED:
        if raw.get(name):
            fields[name] = html_to_text(raw[name])
    cut: dict[str, int] = {}
    _cap(fields, raw, caps, cut)
    events = [f"{name}_truncated" for name in cut]
    if cut:
        fields["evidence"] = {**(raw.get("evidence") or {}), "truncated": cut}
    if not fields.get("title") and not fields.get("text") and not fields.get("phone_field"):
        return {"fields": {}, "events": [*events, "empty"], "bad_date": None,
                "dropped": f"empty ad (no title, text or phone): {raw.get('url')}"}
    if not fields.get("text"):
        events.append("no_text")
    date = fields.get("posted_at", raw.get("posted_at"))
    posted = parse_posted(html_to_text(date) if date else None, raw.get("timezone") or "UTC")
    if date and posted is None:
        events.append("bad_date")
    fields["posted_at"] = iso(posted) if posted else None
    fields["age"] = parse_age(fields.get("age", raw.get("age")))
    fields["price"], fields["currency"] = parse_price(fields.get("price", raw.get("price")))
    events.append("ok")
    return {"fields": fields, "events": events, "dropped": None,
            "bad_date": date if date and posted is None else None}


def normalize_safely(raw: Mapping[str, Any], caps: Caps) -> dict[str, Any]:
    """``normalize_fields``, and if it fails on something no test foresaw, the ad is kept
    anyway: tags stripped by pattern, controls blanked, every cap applied; ``error`` says why."""
    try:
        return normalize_fields(raw, caps)
    except Exception as exc:
        fields: dict[str, Any] = {name: " ".join(_TAG.sub(" ", _CONTROL.sub(" ", raw[name])).split())
                                  for name in _CLEANED if isinstance(raw.get(name), str) and raw.get(name)}
        # Not parsed (that may be what failed) and never stored raw: a store types these fields.
        fields.update(posted_at=None, age=None, price=None, currency=None)
        cut: dict[str, int] = {}
        _cap(fields, {"images": raw.get("images")}, caps, cut)
        if cut:
            fields["evidence"] = {**(raw.get("evidence") or {}), "truncated": cut}
        error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        return {"fields": fields, "events": ["error"], "dropped": None, "bad_date": None, "error": error}
