"""``extract``: one ad's text → phones, contacts, towns, language, indicators.

Today: phone numbers via ``phonenumbers`` and towns from the site's location field
and unambiguous names in the text. The NLP issue replaces the inside (spaCy
components, de-obfuscation, indicators); the signature and output stay.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from geo.gazetteer import gazetteer
from nlp.language import detect_language
from nlp.phones import find_phones
from nlp.towns import TownFinder


@cache
def _town_finder(country: str) -> TownFinder | None:
    """None where adwatch has no gazetteer for the country: phones still work, towns are empty."""
    try:
        return TownFinder(gazetteer(country))
    except FileNotFoundError:
        return None


def extract(
    text: str,
    title: str | None = None,
    region: str = "SE",
    location_field: str | None = None,
    phone_field: str | None = None,
) -> dict[str, Any]:
    """Offsets refer to ``title + "\\n" + text`` (``text`` alone when there is no title)."""
    body = f"{title}\n{text}" if title else text
    hits = find_phones(body, region)
    known = {h.e164 for h in hits}
    if phone_field:
        # The page's own phone field: offsets are -1 because the span is not in the text.
        for hit in find_phones(phone_field, region):
            if hit.e164 not in known:
                known.add(hit.e164)
                hits.append(type(hit)(hit.e164, hit.raw, -1, -1, hit.country, hit.line_type, hit.obfuscated))
    finder = _town_finder(region.upper())
    towns = finder.find(body, location_field) if finder else []
    return {
        "phones": [h.e164 for h in hits],
        "phone_details": [h.as_dict() for h in hits],
        "contacts": [],
        "towns": towns,
        "language": detect_language(body),
        "indicators": [],
        "indicator_score": 0.0,
    }
