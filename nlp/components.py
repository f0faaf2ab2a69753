"""adwatch's spaCy components, registered in one place (house rule 5).

Each component reads ``doc.text`` (and the per-ad values ``doc._.region`` and
``doc._.location_field``), writes explainable spans to a named ``doc.spans`` key, and
loads its data in ``initialize`` so nothing is read per ad. No model is downloaded: the
pipeline is ``spacy.blank("xx")`` plus these rule components.

| component          | writes                                            |
|--------------------|---------------------------------------------------|
| adwatch_phones     | doc.spans["phones"], doc._.phones                 |
| adwatch_contacts   | doc.spans["contacts"], doc._.contacts             |
| adwatch_towns      | doc.spans["towns"], doc._.towns                   |
| adwatch_indicators | doc.spans["indicators"], doc._.indicators/score   |
| adwatch_language   | doc._.language                                    |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from nlp.contacts import find_contacts
from nlp.indicators import IndicatorMatcher, indicator_matcher
from nlp.language import detect_language
from nlp.phones import PhoneHit, find_phones
from nlp.towns import TownFinder

for _name, _default in (("region", "SE"), ("location_field", None), ("phones", None), ("contacts", None),
                        ("towns", None), ("indicators", None), ("indicator_score", 0.0), ("language", None)):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=_default)
if not Span.has_extension("fact"):
    Span.set_extension("fact", default=None)  # the dict this span stands for (E.164, town, rule…)


def _span(doc: Doc, start: int, end: int, label: str, fact: dict[str, Any]) -> Span | None:
    # Strict alignment is a fast lookup; "expand" walks the tokens, so it is the fallback.
    span = doc.char_span(start, end, label=label) or doc.char_span(start, end, label=label, alignment_mode="expand")
    if span is not None:
        span._.fact = fact
    return span


def _spans(doc: Doc, key: str, items: Iterable[tuple[int, int, str, dict[str, Any]]]) -> None:
    doc.spans[key] = [s for s in (_span(doc, *item) for item in items if item[0] >= 0) if s is not None]


class PhonesComponent:
    def __call__(self, doc: Doc) -> Doc:
        hits = find_phones(doc.text, doc._.region)
        doc._.phones = hits
        _spans(doc, "phones", ((h.start, h.end, "PHONE", h.as_dict()) for h in hits))
        return doc


class ContactsComponent:
    def __call__(self, doc: Doc) -> Doc:
        phones: list[PhoneHit] = doc._.phones or []
        contacts = find_contacts(doc.text, phones)
        doc._.contacts = contacts
        _spans(doc, "contacts", ((c["start"], c["end"], c["type"].upper(), c) for c in contacts))
        return doc


class TownsComponent:
    def __init__(self) -> None:
        self.finders: dict[str, TownFinder | None] = {}

    def initialize(self, get_examples: Callable[[], Iterable[Any]] | None = None, *, nlp: Language | None = None,
                   countries: list[str] | None = None) -> None:
        for country in countries or ["SE"]:
            self._finder(country)

    def _finder(self, country: str) -> TownFinder | None:
        if country not in self.finders:
            from geo.gazetteer import gazetteer

            try:
                self.finders[country] = TownFinder(gazetteer(country))
            except FileNotFoundError:  # no gazetteer for that country: phones still work
                self.finders[country] = None
        return self.finders[country]

    def __call__(self, doc: Doc) -> Doc:
        finder = self._finder(str(doc._.region).upper())
        towns = finder.find(doc.text, doc._.location_field) if finder else []
        doc._.towns = towns
        _spans(doc, "towns", ((t["start"], t["end"], "TOWN", t) for t in towns if t["found_in"] == "text"))
        return doc


class IndicatorsComponent:
    def __init__(self) -> None:
        self.matcher: IndicatorMatcher | None = None

    def initialize(self, get_examples: Callable[[], Iterable[Any]] | None = None, *,
                   nlp: Language | None = None) -> None:
        self.matcher = indicator_matcher()

    def __call__(self, doc: Doc) -> Doc:
        matcher = self.matcher or indicator_matcher()
        hits = matcher.find(doc.text)
        doc._.indicators = [h.as_dict() for h in hits]
        obfuscated = any(p.obfuscated for p in doc._.phones or [])
        doc._.indicator_score = matcher.score(hits, obfuscated)
        _spans(doc, "indicators", ((h.start, h.end, h.category.upper(), h.as_dict()) for h in hits))
        return doc


class LanguageComponent:
    def __call__(self, doc: Doc) -> Doc:
        doc._.language = detect_language(doc.text)
        return doc


@Language.factory("adwatch_phones", assigns=["doc.spans", "doc._.phones"])
def make_phones(nlp: Language, name: str) -> PhonesComponent:
    return PhonesComponent()


@Language.factory("adwatch_contacts", requires=["doc._.phones"], assigns=["doc.spans", "doc._.contacts"])
def make_contacts(nlp: Language, name: str) -> ContactsComponent:
    return ContactsComponent()


@Language.factory("adwatch_towns", assigns=["doc.spans", "doc._.towns"])
def make_towns(nlp: Language, name: str) -> TownsComponent:
    return TownsComponent()


@Language.factory("adwatch_indicators", requires=["doc._.phones"],
                  assigns=["doc.spans", "doc._.indicators", "doc._.indicator_score"])
def make_indicators(nlp: Language, name: str) -> IndicatorsComponent:
    return IndicatorsComponent()


@Language.factory("adwatch_language", assigns=["doc._.language"])
def make_language(nlp: Language, name: str) -> LanguageComponent:
    return LanguageComponent()
