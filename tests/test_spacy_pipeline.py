"""The spaCy pipeline as spaCy sees it: factories and their config, data given in
``initialize``, facts in ``doc.spans``, batches through ``nlp.pipe``, save and load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import spacy
from spacy.tokens import Doc
from spacy.util import load_model_from_path

from nlp import extract, extract_many
from nlp.components import (
    AD_TEXT,
    INDICATOR_SCORE,
    LANGUAGE,
    LOCATION_FIELD,
    LOCATION_TOWN,
    REGION,
    DocValue,
    IndicatorsComponent,
    group_facts,
)
from nlp.pipeline import COMPONENTS, build, default_region_of, pipeline

ROOT = Path(__file__).resolve().parent.parent
ADS: list[dict[str, Any]] = [
    {"text": "Ny i Gävle! Ring noll sju noll 174 06 05, snap: anna_x", "title": "Hej"},
    {"text": "Hi, visiting Gothenburg, call +46 70 174 06 06. WhatsApp only. 24/7", "title": None},
    {"text": "ring 912 345 678, nueva en Madrid", "region": "es"},
    {"text": "Rumänsk tjej 19 år, hotell… ring O7O-174 O6 O5", "location_field": "Sandviken (Gävle)",
     "phone_field": "070-1740699, 08-46500400"},
    {"text": "  \n"},
    {"text": "Thai massage i Sala centrum, 08-465 004 01 (ingen sms)", "title": "Sala"},
]


def _dev_ads(count: int) -> list[dict[str, Any]]:
    lines = (ROOT / "tests" / "data" / "nlp_dev.jsonl").read_text("utf-8").splitlines()[:count]
    return [{key: ad.get(key) for key in ("text", "title", "region", "location_field")}
            for ad in map(json.loads, lines)]


def _one_by_one(ads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [extract(ad["text"], title=ad.get("title"), region=ad.get("region"),
                    location_field=ad.get("location_field"), phone_field=ad.get("phone_field")) for ad in ads]


def test_components_come_from_factories_with_their_config() -> None:
    nlp = build("SE")
    assert nlp.pipe_names == list(COMPONENTS)
    assert nlp.config["components"]["adwatch_phones"] == {"factory": "adwatch_phones", "default_region": "SE"}
    assert nlp.config["components"]["adwatch_towns"]["default_region"] == "SE"
    assert nlp.config["initialize"]["components"]["adwatch_towns"] == {"countries": ["SE"]}
    assert nlp.config["nlp"]["tokenizer"] == {"@tokenizers": "adwatch.ad_tokenizer.v1"}
    analysis = nlp.analyze_pipes()  # every "requires" is assigned by an earlier component
    assert analysis is not None and analysis["problems"] == {name: [] for name in COMPONENTS}


def test_the_default_region_is_the_pipelines_config() -> None:
    spanish = build("ES", countries=["SE"])
    assert default_region_of(spanish) == "ES"
    assert [p.e164 for p in spanish("ring 912 345 678")._.phones] == ["+34912345678"]
    assert extract_many([{"text": "ring 912 345 678"}], nlp=spanish)[0]["phones"] == ["+34912345678"]
    assert extract_many([{"text": "ring 912 345 678"}], default_region="SE")[0]["phones"] == []


def test_a_component_without_its_data_says_so() -> None:
    nlp = spacy.blank("xx")
    nlp.add_pipe("adwatch_indicators")
    with pytest.raises(ValueError, match="nlp.initialize"):
        nlp("ring mig")
    nlp.initialize()
    assert nlp("only sms, 24/7").spans["indicators"]


def test_a_region_is_needed_somewhere() -> None:
    nlp = spacy.blank("xx")
    nlp.add_pipe("adwatch_phones")  # default_config: no default region
    nlp.initialize()
    with pytest.raises(ValueError, match="no phone region"):
        nlp("ring 070-174 06 05")
    doc = nlp.make_doc("ring 070-174 06 05")
    doc._.region = "SE"
    assert [p.e164 for p in nlp(doc)._.phones] == ["+46701740605"]


def test_lexicons_are_given_in_initialize(tmp_path: Path) -> None:
    lexicons = tmp_path / "indicators"
    lexicons.mkdir()
    source = ROOT / "nlp" / "data" / "indicators"
    (lexicons / "weights.yaml").write_text((source / "weights.yaml").read_text("utf-8"), "utf-8")
    (lexicons / "xx.yaml").write_text(
        "entries:\n  - id: xx.hotel.botel\n    category: hotel\n    pattern: botel\n    evidence: practice\n",
        "utf-8")
    nlp = build("SE")
    component = nlp.get_pipe("adwatch_indicators")
    assert isinstance(component, IndicatorsComponent)
    component.initialize(lexicons=str(lexicons))
    doc = nlp("Botel room, 24/7")
    assert [(s.text, s._.fact["rule"]) for s in doc.spans["indicators"]] == [("Botel", "xx.hotel.botel")]


def test_facts_are_read_from_the_span_groups() -> None:
    nlp = pipeline("SE")
    doc = nlp.make_doc("Rumänsk tjej i Gävle, ring O7O-174 O6 O5. Snap: anna_x")
    LOCATION_FIELD.set(doc, "Sandviken")
    doc = nlp(doc)
    facts = extract("Rumänsk tjej i Gävle, ring O7O-174 O6 O5. Snap: anna_x", location_field="Sandviken")
    assert facts["phone_details"] == group_facts(doc, "phones")
    assert facts["contacts"] == group_facts(doc, "contacts") == doc._.contacts
    assert facts["indicators"] == group_facts(doc, "indicators") == doc._.indicators
    assert facts["towns"] == [LOCATION_TOWN.get(doc), *group_facts(doc, "towns")] == doc._.towns
    assert [t["found_in"] for t in facts["towns"]] == ["location_field", "text"]
    for key in ("phones", "contacts", "towns", "indicators"):
        group = doc.spans[key]
        assert len(group) == len(group.attrs["facts"]) > 0
        assert [span._.fact for span in group] == group.attrs["facts"]
    assert doc.spans["phones"][0].text == "O7O-174 O6 O5"


def test_doc_values_are_the_extensions_storage() -> None:
    """The components read and write extension values where ``doc._`` keeps them: a spaCy that
    stores them elsewhere fails here, not by silently losing the ad's region."""
    doc = pipeline("SE").make_doc("ring 070-174 06 05")
    assert doc._.ad_text == AD_TEXT.get(doc) == "ring 070-174 06 05"
    values: dict[DocValue, Any] = {REGION: "NO", LOCATION_FIELD: "Gävle", LOCATION_TOWN: {"name": "Gävle"},
                                   INDICATOR_SCORE: 1.5, LANGUAGE: "sv"}
    for value, given in values.items():
        assert getattr(doc._, value.name) == value.get(doc) == value.default
        setattr(doc._, value.name, given)
        assert value.get(doc) == given
        value.set(doc, None)
        assert getattr(doc._, value.name) is None


def test_nlp_pipe_gives_what_extract_gives_in_order() -> None:
    ads = ADS + _dev_ads(60)
    assert extract_many(ads, batch_size=7) == _one_by_one(ads)
    assert extract_many([]) == []


def test_a_saved_pipeline_loads_back_with_the_same_facts(tmp_path: Path) -> None:
    nlp = build("SE")
    nlp.to_disk(tmp_path / "adwatch-nlp")
    assert (tmp_path / "adwatch-nlp" / "adwatch_indicators" / "sources.json").is_file()
    loaded = spacy.load(tmp_path / "adwatch-nlp")
    again = load_model_from_path(tmp_path / "adwatch-nlp")
    assert loaded.pipe_names == list(COMPONENTS) and default_region_of(loaded) == "SE"
    ads = ADS + _dev_ads(120)
    expected = extract_many(ads, nlp=nlp)
    assert extract_many(ads, nlp=loaded) == expected
    assert extract_many(ads, nlp=again) == expected
    doc = loaded(ADS[0]["text"])
    assert isinstance(doc, Doc) and doc.text == ADS[0]["text"]
    assert {key: [s.text for s in group] for key, group in doc.spans.items()} == {
        "phones": ["noll sju noll 174 06 05"], "contacts": ["snap: anna_x"], "towns": ["Gävle"],
        "indicators": ["Ny i Gävle"]}


def test_a_saved_pipeline_loads_in_a_process_that_never_imported_adwatch(tmp_path: Path) -> None:
    """The factories and the tokenizer are entry points (pyproject.toml): plain spacy.load works."""
    import subprocess
    import sys

    build("SE").to_disk(tmp_path / "adwatch-nlp")
    script = (
        "import json, sys, spacy\n"
        "nlp = spacy.load(sys.argv[1])\n"
        "doc = nlp(sys.argv[2])\n"
        "print(json.dumps({key: [s.text for s in group] for key, group in doc.spans.items()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "adwatch-nlp"), ADS[0]["text"]],
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert json.loads(out) == {"phones": ["noll sju noll 174 06 05"], "contacts": ["snap: anna_x"],
                               "towns": ["Gävle"], "indicators": ["Ny i Gävle"]}
