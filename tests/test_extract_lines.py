"""``adwatch extract`` in process: batches through ``nlp.pipe``, one output line per input line, in order."""

from __future__ import annotations

import json
from typing import Any

import pytest

import nlp
from adwatch import extract_cmd
from adwatch.extract_cmd import BATCH_SIZE, extract_lines


def _lines(count: int) -> list[str]:
    lines = []
    for n in range(count):
        if n % 17 == 5:
            lines.append("not json")
        else:
            text = f"Ny i Gävle, ring 070-174 06 {n % 100:02d}" if n % 3 else "Only SMS, 24/7"
            lines.append(json.dumps({"id": n, "text": text, "title": "Hej" if n % 2 else None}))
    return lines


def test_batches_keep_the_input_order_and_match_one_ad_at_a_time() -> None:
    lines = _lines(2 * BATCH_SIZE + 9)
    out = list(extract_lines(lines, "SE"))
    assert len(out) == len(lines)
    for n, (line, got) in enumerate(zip(lines, out, strict=True)):
        if line == "not json":
            assert got["id"] is None and f"line {n + 1}:" in got["error"]
            continue
        ad = json.loads(line)
        facts = nlp.extract(ad["text"], title=ad["title"], region="SE")
        assert got["id"] == n and got["phones"] == facts["phones"] and got["indicators"] == facts["indicators"]


def test_an_ad_that_breaks_extraction_is_reported_and_the_batch_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    real = nlp.extract_many

    def picky(records: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
        if any(r["text"] == "boom" for r in records):
            raise RuntimeError("boom")
        return real(records, **options)

    monkeypatch.setattr(nlp, "extract_many", picky)
    lines = [json.dumps({"id": "a", "text": "ring 070-174 06 05"}), json.dumps({"id": "b", "text": "boom"}),
             json.dumps({"id": "c", "text": "ring 070-174 06 06"})]
    out = list(extract_cmd.extract_lines(lines, "SE"))
    assert [o["id"] for o in out] == ["a", "b", "c"]
    assert out[0]["phones"] == ["+46701740605"] and out[2]["phones"] == ["+46701740606"]
    assert out[1]["error"] == "line 2: extraction failed: boom"
