"""``extract``: one ad → phones, contacts, towns, language, indicators; ``extract_many``: a batch.

The spaCy pipeline (``nlp.pipeline``) does the work. Per-ad inputs go on the Doc as
extensions before it runs (``doc._.region``, ``doc._.location_field``); the facts are read
back from the ``doc.spans`` groups and the doc-level extensions (``nlp/components.py``)
into the plain dict other stages and tools read (the ``adwatch extract`` contract).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from nlp.components import INDICATOR_SCORE, LANGUAGE, LOCATION_FIELD, LOCATION_TOWN, REGION, group_facts
from nlp.phones import find_phones
from nlp.pipeline import default_region_of, pipeline

# One ad for ``extract_many``: "text", and optionally "title", "region", "location_field"
# and "phone_field" (the arguments of ``extract``).
AdInput = Mapping[str, Any]
BATCH_SIZE = 64  # Docs per nlp.pipe batch
_SURROGATE = re.compile("[\ud800-\udfff]")


def extract(
    text: str,
    title: str | None = None,
    region: str | None = None,
    location_field: str | None = None,
    phone_field: str | None = None,
) -> dict[str, Any]:
    """Offsets refer to ``title + "\\n" + text`` (``text`` alone when there is no title).

    ``region`` is the ad's phone region; None: the pipeline's default (the
    ADWATCH_DEFAULT_REGION setting). ``phone_field`` is the site's own phone field: its
    numbers are added with offsets -1, since their span is not in the text.
    """
    nlp = pipeline()
    doc = nlp(_make_doc(nlp, text, title, region, location_field))
    return _facts(nlp, doc, phone_field)


def extract_many(records: Iterable[AdInput], *, default_region: str | None = None, nlp: Language | None = None,
                 batch_size: int = BATCH_SIZE) -> list[dict[str, Any]]:
    """``extract`` for each record, in order, through ``nlp.pipe``: the same facts as one
    ``extract`` call per ad. Records without a region get the pipeline's default region:
    ``nlp``'s, else the process's pipeline for ``default_region`` (None: the
    ADWATCH_DEFAULT_REGION setting)."""
    nlp = nlp or pipeline(default_region)
    ads = list(records)
    docs = (_make_doc(nlp, ad["text"], ad.get("title"), ad.get("region"), ad.get("location_field")) for ad in ads)
    return [_facts(nlp, doc, ad.get("phone_field"))
            for ad, doc in zip(ads, nlp.pipe(docs, batch_size=batch_size), strict=True)]


def _make_doc(nlp: Language, text: str, title: str | None, region: str | None, location_field: str | None) -> Doc:
    # A lone surrogate (a broken page, a bad byte on stdin) cannot be stored by spaCy; one
    # replacement character for one keeps every offset.
    doc = nlp.make_doc(_SURROGATE.sub("\ufffd", f"{title}\n{text}" if title else text))
    if region:
        REGION.set(doc, region.upper())  # doc._.region
    if location_field:
        LOCATION_FIELD.set(doc, location_field)  # doc._.location_field
    return doc


def _facts(nlp: Language, doc: Doc, phone_field: str | None) -> dict[str, Any]:
    phones = group_facts(doc, "phones")
    if phone_field:
        region = REGION.get(doc) or default_region_of(nlp)
        lexicon = nlp.get_pipe("adwatch_phones").lexicon  # type: ignore[attr-defined]
        known = {p["e164"] for p in phones}
        for hit in find_phones(phone_field, str(region), lexicon):
            if hit.e164 not in known:
                known.add(hit.e164)
                phones.append({**hit.as_dict(), "start": -1, "end": -1})
    anchor = LOCATION_TOWN.get(doc)
    return {
        "phones": [p["e164"] for p in phones],
        "phone_details": phones,
        "contacts": group_facts(doc, "contacts"),
        "towns": ([anchor] if anchor else []) + group_facts(doc, "towns"),
        "language": LANGUAGE.get(doc),
        "indicators": group_facts(doc, "indicators"),
        "indicator_score": INDICATOR_SCORE.get(doc),
    }
