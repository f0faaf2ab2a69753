"""`adwatch extract` and `adwatch eval` through the entry point."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import ADWATCH, ROOT, run_adwatch

CORPUS = ROOT / "tests" / "data" / "nlp_dev.jsonl"


def test_eval_meets_the_targets_on_the_development_corpus(home: Path) -> None:
    result = run_adwatch("eval", str(CORPUS), "--check", "--json", home=home, timeout=600)
    report = json.loads(result.stdout)
    assert result.returncode == 0, report["below_targets"]
    assert report["ads"] >= 300
    assert report["phones"]["precision"] >= 0.98 and report["phones"]["recall"] >= 0.97
    assert report["towns"]["f1"] >= 0.93 and report["categories_micro"]["f1"] >= 0.80


def test_eval_check_fails_below_target(tmp_path: Path, home: Path) -> None:
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"id": "x", "text": "Ring 070-174 06 05", "phones": ["+46701740699"],
                                 "towns": [], "categories": []}) + "\n", encoding="utf-8")
    result = run_adwatch("eval", str(wrong), "--check", home=home)
    assert result.returncode == 1 and "below target" in result.stdout


def test_eval_refuses_a_broken_file(tmp_path: Path, home: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "x", "text": "ok"}\nnot json\n', encoding="utf-8")
    result = run_adwatch("eval", str(broken), home=home)
    assert result.returncode == 2 and "broken.jsonl:2" in result.stderr and "Traceback" not in result.stderr


def test_extract_reads_lines_and_survives_bad_ones() -> None:
    lines = [
        {"id": "a", "title": "Ny i stan", "text": "Rumänsk tjej i Gävle, ring O7O-174 O6 O5. Snap: anna_x"},
        "not json",
        {"id": "b"},
        [1, 2],
        {"id": "c", "text": "Hi, visiting Gothenburg, call +46 70 174 06 06", "region": "SE"},
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    result = subprocess.run([*ADWATCH, "extract"], input=stdin, capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 5
    first = out[0]
    assert first["id"] == "a" and first["phones"] == ["+46701740605"] and first["towns"] == ["Gävle"]
    assert {"movement", "nationality"} <= {i["category"] for i in first["indicators"]}
    assert all(set(i) >= {"category", "phrase", "start", "end", "rule", "weight"} for i in first["indicators"])
    assert first["language"] == "sv" and first["contacts"][0]["value"] == "anna_x"
    assert out[1] == {"id": None, "error": out[1]["error"]} and "line 2" in out[1]["error"]
    assert out[2]["id"] == "b" and "error" in out[2]
    assert "error" in out[3]
    assert out[4]["phones"] == ["+46701740606"] and out[4]["towns"] == ["Göteborg"]


def test_extract_answers_each_line_on_a_pipe_before_the_next_is_written() -> None:
    """A tool that writes one ad and waits for its facts must get them (no batch of 64 held back)."""
    import select
    import sys

    with subprocess.Popen([sys.executable, "-m", "adwatch", "extract"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, cwd=ROOT) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            for n in range(2):
                proc.stdin.write(json.dumps({"id": str(n), "text": "Ring 070-174 06 05 i Gävle"}) + "\n")
                proc.stdin.flush()
                ready, _, _ = select.select([proc.stdout], [], [], 60)
                assert ready, "no answer to a line within 60 s: output waits for a batch"
                answer = json.loads(proc.stdout.readline())
                assert answer["id"] == str(n) and answer["phones"] == ["+46701740605"]
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)
