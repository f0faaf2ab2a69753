"""``extract``: one ad's text → phones, contacts, towns, language, indicators.

The only entry point the pipelines use. The spaCy pipeline (``nlp.pipeline``) does the
work; this turns the annotated Doc into the plain dict other stages and tools read.
"""

from __future__ import annotations

from typing import Any

from nlp.components import results
from nlp.phones import find_phones
from nlp.pipeline import pipeline


def extract(
    text: str,
    title: str | None = None,
    region: str = "SE",
    location_field: str | None = None,
    phone_field: str | None = None,
) -> dict[str, Any]:
    """Offsets refer to ``title + "\\n" + text`` (``text`` alone when there is no title).

    ``phone_field`` is the site's own phone field: its numbers are added with offsets -1,
    since their span is not in the text.
    """
    nlp = pipeline()
    body = f"{title}\n{text}" if title else text
    doc = nlp.make_doc(body)
    found = results(doc)
    found["region"] = (region or "SE").upper()
    found["location_field"] = location_field
    doc = nlp(doc)
    hits = list(found["phones"])
    if phone_field:
        known = {h.e164 for h in hits}
        for hit in find_phones(phone_field, found["region"]):
            if hit.e164 not in known:
                known.add(hit.e164)
                hits.append(type(hit)(hit.e164, hit.raw, -1, -1, hit.country, hit.line_type, hit.obfuscated))
    return {
        "phones": [h.e164 for h in hits],
        "phone_details": [h.as_dict() for h in hits],
        "contacts": found["contacts"],
        "towns": found["towns"],
        "language": found["language"],
        "indicators": found["indicators"],
        "indicator_score": found["indicator_score"],
    }
