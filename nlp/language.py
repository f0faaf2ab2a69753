"""Language of an ad: a small function-word vote between Swedish and English.

A stand-in with the final signature; the NLP issue swaps in a real detector.
"""

from __future__ import annotations

import re

_WORDS = re.compile(r"[a-zåäö]+")
_MARKERS = {
    "sv": set("och jag är en det som för på med till har inte om du mig kan ring bara ny hos hej".split()),
    "en": set("and the is a it for on with to have not if you me can call only new at hi".split()),
}


def detect_language(text: str) -> str | None:
    words = _WORDS.findall(text.lower())
    scores = {lang: sum(w in markers for w in words) for lang, markers in _MARKERS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] >= 2 else None
