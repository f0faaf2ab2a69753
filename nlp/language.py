"""Language of an ad: sv, en, pl, ro, ru, or "other".

lingua decides among the languages that matter plus a few neighbours, so a Norwegian,
German or Spanish ad comes out as "other" instead of being forced into Swedish or
English. Models ship inside the wheel: nothing is downloaded.
"""

from __future__ import annotations

import re
from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

_TARGETS = {Language.SWEDISH: "sv", Language.ENGLISH: "en", Language.POLISH: "pl", Language.ROMANIAN: "ro",
            Language.RUSSIAN: "ru"}
# Three neighbours catch most "other" ads (Norwegian, German, Spanish); each language
# more costs every ad about 0.1 ms, so the list stays short.
_NEIGHBOURS = [Language.BOKMAL, Language.GERMAN, Language.SPANISH]
_LETTERS = re.compile(r"[^\W\d_]")
_MIN_LETTERS = 8


@cache
def _detector() -> LanguageDetector:
    # Low-accuracy mode uses trigram models only: 0.15 s to load instead of 3 s in every
    # crawl process, and ads are long enough for trigrams (short texts return None above).
    return LanguageDetectorBuilder.from_languages(*_TARGETS, *_NEIGHBOURS).with_low_accuracy_mode().build()


def detect_language(text: str) -> str | None:
    """None when there is too little text to tell."""
    if len(_LETTERS.findall(text)) < _MIN_LETTERS:
        return None
    language = _detector().detect_language_of(text)
    if language is None:
        return None
    return _TARGETS.get(language, "other")
