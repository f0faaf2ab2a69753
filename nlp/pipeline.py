"""The spaCy pipeline: built once per process, no model download."""

from __future__ import annotations

import logging
import re
from functools import cache

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

from nlp.components import RESULTS, TEXT_KEY  # importing it registers the adwatch_* factories

COMPONENTS = ("adwatch_phones", "adwatch_contacts", "adwatch_towns", "adwatch_indicators", "adwatch_language")


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
        doc.user_data[RESULTS] = {TEXT_KEY: text}  # the components read it without re-joining tokens
        return doc


@cache
def pipeline() -> Language:
    # spaCy's logger has a handler of its own: without a level it prints setup chatter
    # ("Created vocabulary") into crawl logs at DEBUG.
    logging.getLogger("spacy").setLevel(logging.WARNING)
    # "xx" vocabulary (ads mix Swedish, English, Polish, Romanian, Russian), own tokenizer.
    nlp = spacy.blank("xx")
    nlp.tokenizer = AdTokenizer(nlp.vocab)
    for name in COMPONENTS:
        nlp.add_pipe(name)
    nlp.initialize()
    return nlp
