"""``adwatch extract``: JSON lines in, JSON lines out (the interface in DESIGN.md).

In: ``{"id", "title"?, "text", "region"?, "location_field"?}`` per line. Out, one line per
input line: ``{"id", "phones", "towns", "indicators", "language", "contacts"}``. A bad
line gets ``{"id", "error"}`` (id null when unknown) and the rest goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def _error(ad_id: Any, number: int, reason: str) -> dict[str, Any]:
    return {"id": ad_id, "error": f"line {number}: {reason}"}


def extract_lines(lines: Iterable[str], default_region: str = "SE") -> Iterator[dict[str, Any]]:
    from nlp import extract

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ad = json.loads(line)
        except json.JSONDecodeError as exc:
            yield _error(None, number, f"invalid JSON: {exc.msg}")
            continue
        if not isinstance(ad, dict):
            yield _error(None, number, "expected a JSON object")
            continue
        ad_id = ad.get("id")
        text, title = ad.get("text"), ad.get("title")
        if not isinstance(text, str) or (title is not None and not isinstance(title, str)):
            yield _error(ad_id, number, "'text' (and 'title', when given) must be strings")
            continue
        region = ad.get("region") or default_region
        if not isinstance(region, str):
            yield _error(ad_id, number, "'region' must be a string")
            continue
        location = ad.get("location_field")
        try:
            facts = extract(text, title=title or None, region=region,
                            location_field=location if isinstance(location, str) else None)
        except Exception as exc:  # one bad ad must not end the stream
            yield _error(ad_id, number, f"extraction failed: {exc}")
            continue
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
