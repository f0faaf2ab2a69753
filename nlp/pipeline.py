"""The spaCy pipeline: built once per process, no model download."""

from __future__ import annotations

import re
from functools import cache

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

import nlp.components  # noqa: F401  (registers the adwatch_* factories)

COMPONENTS = ("adwatch_phones", "adwatch_contacts", "adwatch_towns", "adwatch_indicators", "adwatch_language")


_TOKEN = re.compile(r"\w+|[^\w\s]|\s+")


class AdTokenizer:
    """Words, single symbols and whitespace runs (a single space after a token is its
    trailing space). The components work on characters and need tokens only for spans,
    so this one regex split replaces spaCy's rule tokenizer at a fraction of its cost."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words: list[str] = []
        spaces: list[bool] = []
        for match in _TOKEN.finditer(text):
            piece = match.group()
            if piece[0].isspace() and words and not spaces[-1] and not words[-1][0].isspace():
                spaces[-1] = piece[0] == " "
                piece = piece[1:] if spaces[-1] else piece
                if not piece:
                    continue
            words.append(piece)
            spaces.append(False)
        return Doc(self.vocab, words=words, spaces=spaces)


@cache
def pipeline() -> Language:
    # "xx" vocabulary (ads mix Swedish, English, Polish, Romanian, Russian), own tokenizer.
    nlp = spacy.blank("xx")
    nlp.tokenizer = AdTokenizer(nlp.vocab)
    for name in COMPONENTS:
        nlp.add_pipe(name)
    nlp.initialize()
    return nlp
