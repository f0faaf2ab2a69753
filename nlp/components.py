"""adwatch's spaCy components, registered in one place (house rule 5).

No model is downloaded: the pipeline (``nlp.pipeline``) is ``spacy.blank("xx")``, the ad
tokenizer and these rule components. Each component is made by a ``Language.factory``
with a ``default_config`` and is given its data in ``initialize`` (the lexicons under
``nlp/data/``, the gazetteers of ``geo/``); nothing is loaded per ad.

Per-ad inputs are Doc extensions, set on ``nlp.make_doc(text)`` before the pipeline runs:

- ``doc._.region``: phone region of the ad (ISO 3166 alpha-2); None → the component's
  ``default_region`` (the pipeline is built with ``ADWATCH_DEFAULT_REGION``);
- ``doc._.location_field``: the site's own location field, None when it has none.

Outputs. Every fact found in the text is a span in a named ``doc.spans`` group; the group's
``attrs["facts"]`` lists the facts of its spans in span order (span i stands for fact i),
and ``span._.fact`` is the fact one span stands for. Facts keep the offsets the finders
report; a span covers the tokens those offsets fall on. Doc-level values are extensions
with their own storage; ``doc._.phones``, ``contacts``, ``towns`` and ``indicators`` are
read-only views built from the span groups.

| component          | writes                                                          |
|--------------------|-----------------------------------------------------------------|
| adwatch_phones     | doc.spans["phones"] (PHONE)                                     |
| adwatch_contacts   | doc.spans["contacts"] (WHATSAPP, EMAIL, URL …)                  |
| adwatch_towns      | doc.spans["towns"] (TOWN, named in the text), doc._.location_town |
| adwatch_indicators | doc.spans["indicators"] (MOVEMENT, YOUTH …), doc._.indicator_score |
| adwatch_language   | doc._.language                                                  |

Saving: ``nlp.to_disk`` writes each component's data sources (which lexicon files, which
countries' gazetteers); ``from_disk`` reads them again from there. The rule files are not
copied: they are versioned and tested with the code that reads them, so a saved pipeline
pins its configuration (default region, countries), never a stale copy of the rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.tokens.underscore import Underscore
from spacy.util import minibatch
from spacy.vocab import Vocab

from nlp.contacts import find_contacts
from nlp.indicators import DATA as INDICATOR_LEXICONS
from nlp.indicators import IndicatorMatcher, indicator_matcher
from nlp.language import MARKERS, AdLanguage
from nlp.phones import NUMBER_WORDS, NumberLexicon, PhoneHit, find_phones
from nlp.towns import TownFinder

FACTS = "facts"  # SpanGroup.attrs key: the facts of the group's spans, in span order
Fact = dict[str, Any]
_SOURCES = "sources.json"  # what a component's to_disk writes: where its data came from


def group_facts(doc: Doc, key: str) -> list[Fact]:
    """The facts of one ``doc.spans`` group (empty before its component ran)."""
    group = doc.spans.get(key)
    return list(group.attrs[FACTS]) if group is not None and FACTS in group.attrs else []


def _fact_of(span: Span) -> Fact | None:
    for group in span.doc.spans.values():
        facts = group.attrs.get(FACTS)
        if facts is None:
            continue
        for index, member in enumerate(group):
            if (member.start, member.end, member.label) == (span.start, span.end, span.label):
                return facts[index]
    return None


def _phones_view(doc: Doc) -> list[PhoneHit]:
    return [PhoneHit(**fact) for fact in group_facts(doc, "phones")]


def _towns_view(doc: Doc) -> list[Fact]:
    anchor = LOCATION_TOWN.get(doc)
    return ([anchor] if anchor else []) + group_facts(doc, "towns")


class DocValue:
    """A Doc extension with a default (``doc._.<name>``), read and written by the components
    where spaCy keeps its value: ``doc.user_data`` under the key spaCy's ``Underscore``
    builds (asked of spaCy once, here). Each ``doc._`` access builds an accessor object
    (2–3 µs); the components touch a dozen values per ad. ``tests/test_spacy_pipeline.py``
    checks that both ways see the same value, so a change in spaCy fails loudly."""

    def __init__(self, name: str, default: Any = None) -> None:
        # force=True: a re-imported module (tests, reloads) registers the same extension again.
        Doc.set_extension(name, default=default, force=True)
        probe = Doc(Vocab(), words=["probe"])
        self.name = name
        self.key: Any = Underscore(Underscore.doc_extensions, probe)._get_key(name)
        self.default = default

    def get(self, doc: Doc) -> Any:
        data: dict[Any, Any] = doc.user_data
        return data.get(self.key, self.default)

    def set(self, doc: Doc, value: Any) -> None:
        data: dict[Any, Any] = doc.user_data
        data[self.key] = value


REGION = DocValue("region")  # input: the ad's phone region (ISO 3166 alpha-2)
LOCATION_FIELD = DocValue("location_field")  # input: the site's own location field
AD_TEXT = DocValue("ad_text")  # the exact text, kept by the ad tokenizer
LOCATION_TOWN = DocValue("location_town")  # the location field's town (a fact), None without one
INDICATOR_SCORE = DocValue("indicator_score", 0.0)
LANGUAGE = DocValue("language")
# Read-only views built from the span groups.
Doc.set_extension("phones", getter=_phones_view, force=True)
Doc.set_extension("contacts", getter=lambda doc: group_facts(doc, "contacts"), force=True)
Doc.set_extension("towns", getter=_towns_view, force=True)
Doc.set_extension("indicators", getter=lambda doc: group_facts(doc, "indicators"), force=True)
Span.set_extension("fact", getter=_fact_of, force=True)


def ad_text(doc: Doc) -> str:
    """The Doc's text: kept by the ad tokenizer, since ``doc.text`` joins every token again."""
    text = AD_TEXT.get(doc)
    return doc.text if text is None else str(text)


def _place(doc: Doc, start: int, end: int, label: str, length: int) -> Span:
    span = doc.char_span(start, end, label=label)  # strict alignment: a fast lookup
    if span is None:
        # Offsets on a normalized text (NFKC, "\r\n" → "\n") may fall inside tokens or run
        # past the end: the tokens that cover them, within the text.
        end = max(1, min(end, length))
        span = doc.char_span(max(0, min(start, end - 1)), end, label=label, alignment_mode="expand")
    if span is None:  # cannot happen with the ad tokenizer (its tokens cover every character)
        span = Span(doc, max(0, len(doc) - 1), len(doc), label=label)
    return span


def _write_group(doc: Doc, key: str, text: str, items: Iterable[tuple[int, int, str, Fact]]) -> None:
    spans: list[Span] = []
    facts: list[Fact] = []
    for start, end, label, fact in items:
        spans.append(_place(doc, start, end, label, len(text)))
        facts.append(fact)
    doc.spans[key] = SpanGroup(doc, name=key, attrs={FACTS: facts}, spans=spans)


class _Batched:
    """``nlp.pipe`` hands a component a stream of Docs: this one takes a batch at a time and
    runs it through before passing it on, so its data (lexicons, gazetteer, language
    models) stays in the CPU caches across the batch: about a fifth faster than taking
    each Doc through every component in turn."""

    def __call__(self, doc: Doc) -> Doc:
        raise NotImplementedError

    def pipe(self, docs: Iterable[Doc], *, batch_size: int = 64) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            yield from [self(doc) for doc in batch]


def _not_initialized(name: str) -> ValueError:
    return ValueError(f"{name}: its data is not loaded: call nlp.initialize() (or load a saved pipeline)")


class _DataComponent(_Batched):
    """A component whose data comes from files, given in ``initialize``; ``to_disk`` records
    which files, ``from_disk`` loads them again."""

    name = "adwatch"

    def sources(self) -> dict[str, Any]:
        raise NotImplementedError

    def load(self, **sources: Any) -> None:
        raise NotImplementedError

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _SOURCES).write_text(json.dumps(self.sources(), indent=1), encoding="utf-8")

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> _DataComponent:
        self.load(**json.loads((Path(path) / _SOURCES).read_text(encoding="utf-8")))
        return self


class _FileComponent(_DataComponent):
    """A component whose data is one file (``initialize`` may name another): ``build`` turns
    it into what ``__call__`` uses, and ``data()`` refuses to run before that happened."""

    source: str  # the initialize argument and the to_disk key that name the file
    default_file: Path

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = str(self.default_file)
        self._data: Any = None

    def sources(self) -> dict[str, Any]:
        return {self.source: self.path}

    def load(self, **sources: Any) -> None:
        self.path = sources.get(self.source) or str(self.default_file)
        self._data = self.build(Path(self.path))

    def build(self, path: Path) -> Any:
        raise NotImplementedError

    def data(self) -> Any:
        if self._data is None:
            raise _not_initialized(self.name)
        return self._data


def _region(doc: Doc, default_region: str | None, name: str) -> str:
    region = REGION.get(doc) or default_region
    if not region:
        raise ValueError(f"{name}: no phone region: set doc._.region or the component's default_region")
    return str(region).upper()


class PhonesComponent(_FileComponent):
    source, default_file = "number_words", NUMBER_WORDS

    def __init__(self, name: str, default_region: str | None) -> None:
        super().__init__(name)
        self.default_region = default_region.upper() if default_region else None

    def initialize(self, get_examples: Callable[[], Iterable[Any]] | None = None, *, nlp: Language | None = None,
                   number_words: str | None = None) -> None:
        self.load(number_words=number_words)

    def build(self, path: Path) -> NumberLexicon:
        return NumberLexicon(path)

    @property
    def lexicon(self) -> NumberLexicon:
        return self.data()

    def __call__(self, doc: Doc) -> Doc:
        text = ad_text(doc)
        hits = find_phones(text, _region(doc, self.default_region, self.name), self.lexicon)
        _write_group(doc, "phones", text, ((h.start, h.end, "PHONE", h.as_dict()) for h in hits))
        return doc


class ContactsComponent(_Batched):
    def __call__(self, doc: Doc) -> Doc:
        text = ad_text(doc)
        contacts = find_contacts(text, _phones_view(doc))
        _write_group(doc, "contacts", text, ((c["start"], c["end"], c["type"].upper(), c) for c in contacts))
        return doc


class TownsComponent(_DataComponent):
    """Towns of the ad's region. The gazetteers of ``countries`` (default: the default
    region's) are loaded in ``initialize``; an ad from another region loads that country's
    the first time one comes, and a country without a gazetteer gets no towns."""

    def __init__(self, name: str, default_region: str | None) -> None:
        self.name = name
        self.default_region = default_region.upper() if default_region else None
        self.finders: dict[str, TownFinder | None] = {}
        self.initialized = False

    def initialize(self, get_examples: Callable[[], Iterable[Any]] | None = None, *, nlp: Language | None = None,
                   countries: list[str] | None = None) -> None:
        self.load(countries=countries)

    def sources(self) -> dict[str, Any]:
        return {"countries": sorted(self.finders)}

    def load(self, countries: list[str] | None = None, **_: Any) -> None:
        self.finders = {}
        for country in countries or ([self.default_region] if self.default_region else []):
            self._finder(country.upper())
        self.initialized = True

    def _finder(self, country: str) -> TownFinder | None:
        if country not in self.finders:
            from geo.gazetteer import gazetteer

            try:
                self.finders[country] = TownFinder(gazetteer(country))
            except FileNotFoundError:  # no gazetteer for that country: phones still work
                self.finders[country] = None
        return self.finders[country]

    def __call__(self, doc: Doc) -> Doc:
        if not self.initialized:
            raise _not_initialized(self.name)
        text = ad_text(doc)
        finder = self._finder(_region(doc, self.default_region, self.name))
        towns = finder.find(text, LOCATION_FIELD.get(doc)) if finder else []
        anchor = next((t for t in towns if t["found_in"] == "location_field"), None)
        if anchor is not None:
            LOCATION_TOWN.set(doc, anchor)
        # find() lists the location field's town first, then towns in the text in text order.
        _write_group(doc, "towns", text, ((t["start"], t["end"], "TOWN", t) for t in towns if t["found_in"] == "text"))
        return doc


class IndicatorsComponent(_FileComponent):
    source, default_file = "lexicons", INDICATOR_LEXICONS

    def initialize(self, get_examples: Callable[[], Iterable[Any]] | None = None, *, nlp: Language | None = None,
                   lexicons: str | None = None) -> None:
        self.load(lexicons=lexicons)

    def build(self, path: Path) -> IndicatorMatcher:
        return indicator_matcher(path)

    def __call__(self, doc: Doc) -> Doc:
        matcher: IndicatorMatcher = self.data()
        text = ad_text(doc)
        hits = matcher.find(text)
        obfuscated = any(fact["obfuscated"] for fact in group_facts(doc, "phones"))
        INDICATOR_SCORE.set(doc, matcher.score(hits, obfuscated))
        _write_group(doc, "indicators", text, ((h.start, h.end, h.category.upper(), h.as_dict()) for h in hits))
        return doc


class LanguageComponent(_FileComponent):
    source, default_file = "markers", MARKERS

    def initialize(self, get_examples: Callable[[], Iterable[Any]] | None = None, *, nlp: Language | None = None,
                   markers: str | None = None) -> None:
        self.load(markers=markers)

    def build(self, path: Path) -> AdLanguage:
        return AdLanguage(path)

    def __call__(self, doc: Doc) -> Doc:
        detector: AdLanguage = self.data()
        LANGUAGE.set(doc, detector.detect(ad_text(doc)))
        return doc


@Language.factory("adwatch_phones", assigns=["doc.spans", "doc._.phones"], default_config={"default_region": None})
def make_phones(nlp: Language, name: str, default_region: str | None) -> PhonesComponent:
    return PhonesComponent(name, default_region)


@Language.factory("adwatch_contacts", requires=["doc._.phones"], assigns=["doc.spans", "doc._.contacts"])
def make_contacts(nlp: Language, name: str) -> ContactsComponent:
    return ContactsComponent()


@Language.factory("adwatch_towns", assigns=["doc.spans", "doc._.towns", "doc._.location_town"],
                  default_config={"default_region": None})
def make_towns(nlp: Language, name: str, default_region: str | None) -> TownsComponent:
    return TownsComponent(name, default_region)


@Language.factory("adwatch_indicators", requires=["doc._.phones"],
                  assigns=["doc.spans", "doc._.indicators", "doc._.indicator_score"])
def make_indicators(nlp: Language, name: str) -> IndicatorsComponent:
    return IndicatorsComponent(name)


@Language.factory("adwatch_language", assigns=["doc._.language"])
def make_language(nlp: Language, name: str) -> LanguageComponent:
    return LanguageComponent(name)
