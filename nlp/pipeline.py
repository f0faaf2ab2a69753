"""The spaCy pipeline: ``spacy.blank("xx")``, the ad tokenizer and the adwatch components.

``build(default_region)`` makes one; ``pipeline()`` keeps one per default region for the
process (built once: loading the lexicons and gazetteers is most of a crawl's start-up).
A built pipeline can be saved with ``nlp.to_disk(path)`` and loaded with
``spacy.load(path)`` once this module is imported (it registers the tokenizer and,
through ``nlp.components``, the component factories).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import phonenumbers
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import registry
from spacy.vocab import Vocab

# Importing the components registers the adwatch_* factories and the Doc extensions.
from nlp.components import AD_TEXT

COMPONENTS = ("adwatch_phones", "adwatch_contacts", "adwatch_towns", "adwatch_indicators", "adwatch_language")
_REGIONAL = ("adwatch_phones", "adwatch_towns")  # components whose config holds the default region
TOKENIZER = "adwatch.ad_tokenizer.v1"

# A word or a symbol with at most one trailing space, or any other run of whitespace.
_TOKEN = re.compile(r"(\w+|[^\w\s])( ?)|(\s+)")


class AdTokenizer:
    """Words, single symbols and whitespace runs (a single space after a token is its
    trailing space). The components work on characters and need tokens only for spans,
    so this one regex split replaces spaCy's rule tokenizer at a fraction of its cost."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words: list[str] = []
        spaces: list[bool] = []
        for word, space, whitespace in _TOKEN.findall(text):
            words.append(whitespace or word)
            spaces.append(space == " ")
        doc = Doc(self.vocab, words=words, spaces=spaces)
        AD_TEXT.set(doc, text)  # doc._.ad_text: the components read it without re-joining tokens
        return doc

    # Nothing to save: the tokenizer is its regex. spaCy's to_disk/from_disk call these.
    def to_disk(self, path: str | Path, *, exclude: Sequence[str] = ()) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    def from_disk(self, path: str | Path, *, exclude: Sequence[str] = ()) -> AdTokenizer:
        return self

    def to_bytes(self, *, exclude: Sequence[str] = ()) -> bytes:
        return b""

    def from_bytes(self, data: bytes, *, exclude: Sequence[str] = ()) -> AdTokenizer:
        return self


@registry.tokenizers(TOKENIZER)
def make_ad_tokenizer() -> Callable[[Language], AdTokenizer]:
    def create(nlp: Language) -> AdTokenizer:
        return AdTokenizer(nlp.vocab)

    return create


def build(default_region: str, countries: Sequence[str] | None = None) -> Language:
    """A new pipeline whose components read ads of ``default_region`` unless a Doc says
    otherwise (``doc._.region``); the gazetteers of ``countries`` (default: that region's)
    are loaded in ``initialize``."""
    # spaCy's logger has a handler of its own: without a level it prints setup chatter
    # ("Created vocabulary") into crawl logs at DEBUG.
    logging.getLogger("spacy").setLevel(logging.WARNING)
    region = default_region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:  # else every ad would silently have no numbers
        raise ValueError(f"default region {default_region!r} is not a phone region (ISO 3166 alpha-2, e.g. SE)")
    config: dict[str, Any] = {
        "nlp": {"tokenizer": {"@tokenizers": TOKENIZER}},
        "initialize": {"components": {"adwatch_towns": {"countries": [c.upper() for c in countries or [region]]}}},
    }
    # "xx" vocabulary: ads mix Swedish, English, Polish, Romanian, Russian.
    nlp = spacy.blank("xx", config=config)
    for name in COMPONENTS:
        nlp.add_pipe(name, config={"default_region": region} if name in _REGIONAL else {})
    nlp.initialize()
    return nlp


def settings_region() -> str:
    """ADWATCH_DEFAULT_REGION from the project's settings (config/settings.py)."""
    from adwatch.settings import load_settings

    return str(load_settings().get("ADWATCH_DEFAULT_REGION"))


def pipeline(default_region: str | None = None) -> Language:
    """The process's pipeline for ``default_region`` (None: the ADWATCH_DEFAULT_REGION setting,
    read when that pipeline is first asked for)."""
    return _pipeline(default_region.upper()) if default_region else _settings_pipeline()


@cache
def _pipeline(default_region: str) -> Language:
    return build(default_region)


@cache
def _settings_pipeline() -> Language:
    return _pipeline(settings_region().upper())


def default_region_of(nlp: Language) -> str | None:
    """The default phone region a pipeline was built with (its phones component's config)."""
    region = nlp.get_pipe("adwatch_phones").default_region  # type: ignore[attr-defined]
    return str(region) if region else None
