"""The spaCy pipeline: built once per process, no model download."""

from __future__ import annotations

from functools import cache

import spacy
from spacy.language import Language

import nlp.components  # noqa: F401  (registers the adwatch_* factories)

COMPONENTS = ("adwatch_phones", "adwatch_contacts", "adwatch_towns", "adwatch_indicators", "adwatch_language")


@cache
def pipeline() -> Language:
    # "xx" (multi-language) tokenization: ads mix Swedish, English, Polish, Romanian, Russian.
    nlp = spacy.blank("xx")
    for name in COMPONENTS:
        nlp.add_pipe(name)
    nlp.initialize()
    return nlp
