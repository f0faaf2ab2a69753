"""Phone numbers: find them in text and normalize them to E.164 with ``phonenumbers``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType

_TYPES = {value: name.lower() for name, value in vars(PhoneNumberType).items() if name.isupper()}


@dataclass(frozen=True)
class PhoneHit:
    e164: str
    raw: str
    start: int
    end: int
    country: str | None
    line_type: str
    obfuscated: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hit(number: phonenumbers.PhoneNumber, raw: str, start: int, end: int, obfuscated: bool) -> PhoneHit:
    return PhoneHit(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        raw=raw,
        start=start,
        end=end,
        country=phonenumbers.region_code_for_number(number),
        line_type=_TYPES.get(phonenumbers.number_type(number), "unknown"),
        obfuscated=obfuscated,
    )


def normalize_phone(raw: str, region: str = "SE") -> str | None:
    """Whatever an analyst or a page writes ("070-174 06 05", "+46 70…") → E.164, or None."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_phones(text: str, region: str = "SE") -> list[PhoneHit]:
    hits: list[PhoneHit] = []
    seen: set[str] = set()
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        hit = _hit(match.number, match.raw_string, match.start, match.end, obfuscated=False)
        if hit.e164 not in seen:
            seen.add(hit.e164)
            hits.append(hit)
    return hits
