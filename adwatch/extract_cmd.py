"""``adwatch extract``: JSON lines in, JSON lines out (the interface in docs/ARCHITECTURE.md).

In: ``{"id", "title"?, "text", "region"?, "location_field"?}`` per line. Out, one line per
input line: ``{"id", "phones", "towns", "indicators", "language", "contacts"}``. A bad
line gets ``{"id", "error"}`` (id null when unknown) and the rest goes on. Ads go through
``nlp.extract_many`` (spaCy's ``nlp.pipe``) in batches of ``BATCH_SIZE`` lines; the output
keeps the input's order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple


def _error(ad_id: Any, number: int, reason: str) -> dict[str, Any]:
    return {"id": ad_id, "error": f"line {number}: {reason}"}


BATCH_SIZE = 64  # ads per nlp.pipe batch: output waits for a batch, in input order


class _Ad(NamedTuple):
    id: Any
    number: int
    record: dict[str, Any]


def _read(number: int, line: str, default_region: str) -> _Ad | dict[str, Any]:
    """One input line → an ad to extract, or the error line to print for it."""
    try:
        ad = json.loads(line)
    except json.JSONDecodeError as exc:
        return _error(None, number, f"invalid JSON: {exc.msg}")
    if not isinstance(ad, dict):
        return _error(None, number, "expected a JSON object")
    ad_id = ad.get("id")
    text, title = ad.get("text"), ad.get("title")
    if not isinstance(text, str) or (title is not None and not isinstance(title, str)):
        return _error(ad_id, number, "'text' (and 'title', when given) must be strings")
    region = ad.get("region") or default_region
    if not isinstance(region, str):
        return _error(ad_id, number, "'region' must be a string")
    location = ad.get("location_field")
    return _Ad(ad_id, number, {"text": text, "title": title or None, "region": region,
                               "location_field": location if isinstance(location, str) else None})


def extract_lines(lines: Iterable[str], default_region: str, batch_size: int = BATCH_SIZE) -> Iterator[dict[str, Any]]:
    """``default_region`` (ADWATCH_DEFAULT_REGION) for lines that give no ``region``; ``batch_size``
    ads go through ``nlp.pipe`` together (1: each line is answered before the next is read)."""
    pending: list[_Ad | dict[str, Any]] = []
    ads = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        item = _read(number, line, default_region)
        pending.append(item)
        ads += isinstance(item, _Ad)
        if ads >= max(1, batch_size):
            yield from _extracted(pending, default_region)
            pending, ads = [], 0
    yield from _extracted(pending, default_region)


def _extracted(pending: list[_Ad | dict[str, Any]], default_region: str) -> Iterator[dict[str, Any]]:
    from nlp import extract_many

    ads = [item for item in pending if isinstance(item, _Ad)]
    try:
        found: list[dict[str, Any] | Exception] = list(extract_many([ad.record for ad in ads],
                                                                    default_region=default_region))
    except Exception:  # one bad ad must not end the stream: find it, ad by ad
        found = []
        for ad in ads:
            try:
                found.extend(extract_many([ad.record], default_region=default_region))
            except Exception as exc:
                found.append(exc)
    facts_of = {ad.number: facts for ad, facts in zip(ads, found, strict=True)}
    for item in pending:
        if not isinstance(item, _Ad):
            yield item
            continue
        facts = facts_of[item.number]
        if isinstance(facts, Exception):
            yield _error(item.id, item.number, f"extraction failed: {facts}")
            continue
        ad_id = item.id
        yield {
            "id": ad_id,
            "phones": facts["phones"],
            "towns": [t["name"] for t in facts["towns"]],
            "indicators": [{k: i[k] for k in ("category", "phrase", "start", "end", "rule", "weight")}
                           for i in facts["indicators"]],
            "language": facts["language"],
            "contacts": facts["contacts"],
            "phone_details": facts["phone_details"],
            "town_details": facts["towns"],
            "indicator_score": facts["indicator_score"],
        }
