"""An ad's title and text cut into segments, each with the facts that cover it.

The NLP's offsets refer to ``title + "\\n" + text`` (``nlp/extract.py``). Facts overlap (an
indicator phrase "Ny i Gävle" holds the town; a contact holds its number), so the text is
cut at every fact's start and end and each piece carries every fact covering it; the
template marks a piece with all their kinds. Offsets come from the store, which holds what
strangers wrote: a span that is not a pair of integers inside the text is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adwatch.web.i18n import gettext  # the category names, in the analyst's language

# Kinds in the order their labels are listed on a piece.
KINDS = ("phone", "contact", "town", "indicator")


@dataclass(frozen=True)
class Mark:
    kind: str
    label: str  # what the analyst sees on hover: the number, the handle, the town, the category


@dataclass
class Segment:
    text: str
    marks: list[Mark] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return sorted({m.kind for m in self.marks}, key=KINDS.index)

    @property
    def label(self) -> str:
        return " · ".join(m.label for m in sorted(self.marks, key=lambda m: (KINDS.index(m.kind), m.label)))


def _span(fact: dict[str, Any], size: int) -> tuple[int, int] | None:
    start, end = fact.get("start"), fact.get("end")
    if type(start) is not int or type(end) is not int or not 0 <= start < end <= size:
        return None
    return start, end


def _facts(ad: dict[str, Any]) -> list[tuple[dict[str, Any], Mark]]:
    found: list[tuple[dict[str, Any], Mark]] = []
    for fact in ad.get("phone_details") or []:
        if isinstance(fact, dict):
            found.append((fact, Mark("phone", str(fact.get("e164") or ""))))
    for fact in ad.get("contacts") or []:
        if isinstance(fact, dict):
            found.append((fact, Mark("contact", f"{fact.get('type') or ''}: {fact.get('value') or ''}")))
    for fact in ad.get("towns") or []:
        if isinstance(fact, dict) and fact.get("found_in", "text") in ("text", "title"):
            found.append((fact, Mark("town", str(fact.get("name") or ""))))
    for fact in ad.get("indicators") or []:
        if isinstance(fact, dict):
            found.append((fact, Mark("indicator", gettext(str(fact.get("category") or "")))))
    return found


def segments(ad: dict[str, Any]) -> tuple[list[Segment], list[Segment]]:
    """(title segments, text segments)."""
    title = str(ad.get("title") or "")
    text = str(ad.get("text") or "")
    whole = f"{title}\n{text}" if title else text
    spans: list[tuple[int, int, Mark]] = []
    for fact, mark in _facts(ad):
        span = _span(fact, len(whole))
        if span is not None:
            spans.append((*span, mark))
    cuts = sorted({0, len(whole), *(s for s, _, _ in spans), *(e for _, e, _ in spans)}
                  | ({len(title), len(title) + 1} if title else set()))
    pieces: list[tuple[int, int, list[Mark]]] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        if start < end:
            pieces.append((start, end, [m for s, e, m in spans if s <= start and end <= e]))
    head: list[Segment] = []
    body: list[Segment] = []
    offset = len(title) + 1 if title else 0
    for start, end, marks in pieces:
        if title and start < len(title):
            head.append(Segment(whole[start:end], marks))
        elif start >= offset:
            body.append(Segment(whole[start:end], marks))
    return head or [Segment(title)], body
