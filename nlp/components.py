"""adwatch's spaCy components, registered in one place (house rule 5).

Each component reads the ad's text and the per-ad values ``doc._.region`` and
``doc._.location_field``, writes explainable spans to a named ``doc.spans`` key (each
span's ``span._.fact`` is the dict it stands for), and loads its data in ``initialize``
so nothing is read per ad. Internally they share one plain dict per Doc (``results``);
the ``doc._`` extensions read and write that dict. No model is downloaded: the
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

RESULTS = "adwatch"  # doc.user_data key of the dict the components read and write
TEXT_KEY = "text"
_FACTS = "facts"  # (start_char, end_char, label) → the fact a span stands for
_FIELDS = (("region", "SE"), ("location_field", None), ("phones", None), ("contacts", None), ("towns", None),
           ("indicators", None), ("indicator_score", 0.0), ("language", None))


def results(doc: Doc) -> dict[str, Any]:
    """What the components know about this ad. One plain dict: the ``doc._`` extensions
    are views of it, since each ``doc._`` access builds an accessor object."""
    found = doc.user_data.get(RESULTS)
    if found is None:
        found = doc.user_data[RESULTS] = {}
    return found


def _extension(name: str, default: Any) -> tuple[Callable[[Doc], Any], Callable[[Doc, Any], None]]:
    def get(doc: Doc) -> Any:
        return results(doc).get(name, default)

    def put(doc: Doc, value: Any) -> None:
        results(doc)[name] = value

    return get, put


for _name, _default in _FIELDS:
    if not Doc.has_extension(_name):
        _get, _put = _extension(_name, _default)
        Doc.set_extension(_name, getter=_get, setter=_put)
if not Span.has_extension("fact"):
    # The dict this span stands for (E.164, town, rule…).
    Span.set_extension("fact", getter=lambda span: results(span.doc).get(_FACTS, {}).get(
        (span.start_char, span.end_char, span.label_)))


def ad_text(doc: Doc) -> str:
    """The Doc's text, built once: ``doc.text`` joins every token again on each call."""
    found = results(doc)
    text = found.get(TEXT_KEY)
    if text is None:
        text = found[TEXT_KEY] = doc.text
    return str(text)


def _spans(doc: Doc, key: str, items: Iterable[tuple[int, int, str, dict[str, Any]]]) -> None:
    facts = results(doc).setdefault(_FACTS, {})
    spans = []
    for start, end, label, fact in items:
        if start < 0:
            continue
        # Strict alignment is a fast lookup; "expand" walks the tokens, so it is the fallback.
        span = doc.char_span(start, end, label=label) or doc.char_span(start, end, label=label,
                                                                         alignment_mode="expand")
        if span is not None:
            spans.append(span)
            facts[(span.start_char, span.end_char, label)] = fact
    doc.spans[key] = spans


class PhonesComponent:
    def __call__(self, doc: Doc) -> Doc:
        found = results(doc)
        hits = find_phones(ad_text(doc), found.get("region", "SE"))
        found["phones"] = hits
        _spans(doc, "phones", ((h.start, h.end, "PHONE", h.as_dict()) for h in hits))
        return doc


class ContactsComponent:
    def __call__(self, doc: Doc) -> Doc:
        found = results(doc)
        phones: list[PhoneHit] = found.get("phones") or []
        contacts = find_contacts(ad_text(doc), phones)
        found["contacts"] = contacts
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
        found = results(doc)
        finder = self._finder(str(found.get("region", "SE")).upper())
        towns = finder.find(ad_text(doc), found.get("location_field")) if finder else []
        found["towns"] = towns
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
        found = results(doc)
        hits = matcher.find(ad_text(doc))
        facts = [h.as_dict() for h in hits]
        found["indicators"] = facts
        found["indicator_score"] = matcher.score(hits, any(p.obfuscated for p in found.get("phones") or []))
        labelled = zip(hits, facts, strict=True)
        _spans(doc, "indicators", ((h.start, h.end, h.category.upper(), fact) for h, fact in labelled))
        return doc


class LanguageComponent:
    def __call__(self, doc: Doc) -> Doc:
        results(doc)["language"] = detect_language(ad_text(doc))
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
