"""Language of an ad: sv, en, pl, ro, ru, or "other".

Function words settle most ads at once (``nlp/data/language_markers.yaml``); for the
rest, lingua decides among the languages that matter plus a few neighbours, so a Norwegian,
German or Spanish ad comes out as "other" instead of being forced into Swedish or
English. Models ship inside the wheel: nothing is downloaded.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from lingua import Language, LanguageDetector, LanguageDetectorBuilder

_TARGETS = {Language.SWEDISH: "sv", Language.ENGLISH: "en", Language.POLISH: "pl", Language.ROMANIAN: "ro",
            Language.RUSSIAN: "ru"}
# Three neighbours catch most "other" ads (Norwegian, German, Spanish); each language
# more costs every ad about 0.1 ms, so the list stays short.
_NEIGHBOURS = [Language.BOKMAL, Language.GERMAN, Language.SPANISH]
_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_MIN_LETTERS = 8


MARKERS = Path(__file__).resolve().parent / "data" / "language_markers.yaml"
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def _lingua() -> LanguageDetector:
    # Low-accuracy mode uses trigram models only: 0.15 s to load instead of 3 s in every
    # crawl process, and ads are long enough for trigrams (short texts return None above).
    # Preloaded: lingua otherwise loads each language's models on the first ads that need
    # them, and those ads take several times as long as the rest.
    return (LanguageDetectorBuilder.from_languages(*_TARGETS, *_NEIGHBOURS).with_low_accuracy_mode()
            .with_preloaded_language_models().build())


class AdLanguage:
    """The markers file and lingua's models, loaded once (the spaCy component is given one
    in ``initialize``; ``detect_language`` serves other callers)."""

    def __init__(self, markers: Path = MARKERS) -> None:
        data = yaml.safe_load(markers.read_text("utf-8"))
        self.owner: dict[str, str] = {}
        for group in ("languages", "neighbours"):
            for language, words in data[group].items():
                for word in words:
                    self.owner[word.casefold()] = language
        self.min_votes = int(data["min_votes"])
        self.detector = _lingua()

    def _by_markers(self, lowered: str, words: list[str], letters: int) -> str | None:
        """A language when its function words alone settle it (most ads); else None."""
        if _CYRILLIC.search(lowered) and len(_CYRILLIC.findall(lowered)) * 2 > letters:
            russian = any(c in lowered for c in "ыэъё") and not any(c in lowered for c in "іїєґ")
            return "ru" if russian else None
        owner = self.owner
        votes: dict[str, set[str]] = {}
        for word in words:
            language = owner.get(word)
            if language:
                votes.setdefault(language, set()).add(word)
        if len(votes) == 1:
            (language, voters), = votes.items()
            if language != "other" and len(voters) >= self.min_votes:
                return language
        return None

    def detect(self, text: str) -> str | None:
        """None when there is too little text to tell."""
        lowered = text.casefold()
        words = _WORDS.findall(lowered)
        letters = sum(map(len, words))  # an apostrophe or two among them changes nothing
        if letters < _MIN_LETTERS:
            return None
        fast = self._by_markers(lowered, words, letters)
        if fast is not None:
            return fast
        language = self.detector.detect_language_of(text)
        if language is None:
            return None
        return _TARGETS.get(language, "other")


@cache
def default_detector() -> AdLanguage:
    """The packaged markers, for callers outside the spaCy pipeline."""
    return AdLanguage()


def detect_language(text: str) -> str | None:
    """None when there is too little text to tell."""
    return default_detector().detect(text)
