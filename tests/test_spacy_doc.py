"""The spaCy side of the NLP stage: what a user of ``nlp.pipeline()`` gets on the Doc."""

from __future__ import annotations

from nlp import extract
from nlp.pipeline import pipeline

AD = "Ny i Gävle! Ring noll sju noll 174 06 05, snap: anna_x"


def test_doc_extensions_and_spans_carry_the_facts() -> None:
    doc = pipeline()(AD)
    assert [p.e164 for p in doc._.phones] == ["+46701740605"]
    assert [t["name"] for t in doc._.towns] == ["Gävle"]
    assert doc._.language == "sv"
    assert doc._.indicator_score > 0
    labels = {key: [(span.text, span.label_) for span in spans] for key, spans in doc.spans.items()}
    assert labels["phones"] == [("noll sju noll 174 06 05", "PHONE")]
    assert labels["towns"] == [("Gävle", "TOWN")]
    assert labels["contacts"] == [("snap: anna_x", "SNAPCHAT")]
    assert labels["indicators"] == [("Ny i Gävle", "MOVEMENT")]
    assert doc.spans["phones"][0]._.fact["e164"] == "+46701740605"
    assert doc.spans["indicators"][0]._.fact["rule"] == "sv.movement.ny_i_ort"


def test_region_set_on_the_doc_reaches_the_components() -> None:
    nlp = pipeline()
    doc = nlp.make_doc("ring 912 345 678")
    doc._.region = "ES"
    assert [p.e164 for p in nlp(doc)._.phones] == ["+34912345678"]
    assert nlp("ring 912 345 678")._.phones == []  # a Swedish reading has no trunk zero


def test_the_tokenizer_keeps_the_text_exactly() -> None:
    text = "  Hej!\n\n070-174 06 05\t🎀 i  Gävle… \r\n"
    doc = pipeline().make_doc(text)
    assert doc.text == text


def test_extract_matches_the_doc() -> None:
    facts = extract(AD)
    doc = pipeline()(AD)
    assert facts["phones"] == [p.e164 for p in doc._.phones]
    assert facts["indicators"] == doc._.indicators
