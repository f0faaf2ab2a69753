"""Score the NLP stage against a labelled JSON-lines file (``adwatch eval``).

Each line: the input (``id``, ``title``, ``text``, ``region``, ``location_field``) and
the gold answers in the output's own field names: ``phones`` (E.164), ``towns``
(canonical names), ``categories`` (indicator categories present) and ``language``.
Phones and towns are scored as sets per ad, categories by presence per ad; all counts
are summed over the file (micro averages).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.extract import extract
from nlp.indicators import CATEGORIES

# What the stage promises (issue: NLP stage). `adwatch eval --check` fails below these.
TARGETS = {"phones.precision": 0.98, "phones.recall": 0.97, "towns.f1": 0.93, "categories.micro_f1": 0.80}


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, gold: set[str], got: set[str]) -> None:
        self.tp += len(gold & got)
        self.fp += len(got - gold)
        self.fn += len(gold - got)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def row(self) -> dict[str, float | int]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "support": self.tp + self.fn}


@dataclass
class Evaluation:
    ads: int = 0
    phones: Score = field(default_factory=Score)
    towns: Score = field(default_factory=Score)
    categories: dict[str, Score] = field(default_factory=lambda: {c: Score() for c in CATEGORIES})
    language: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def micro(self) -> Score:
        total = Score()
        for score in self.categories.values():
            total.tp, total.fp, total.fn = total.tp + score.tp, total.fp + score.fp, total.fn + score.fn
        return total

    def report(self) -> dict[str, Any]:
        language_total = self.language["right"] + self.language["wrong"]
        return {
            "ads": self.ads,
            "phones": self.phones.row(),
            "towns": self.towns.row(),
            "categories": {c: s.row() for c, s in self.categories.items()},
            "categories_micro": self.micro.row(),
            "language_accuracy": round(self.language["right"] / language_total, 4) if language_total else None,
        }

    def below_targets(self) -> list[str]:
        values = {"phones.precision": self.phones.precision, "phones.recall": self.phones.recall,
                  "towns.f1": self.towns.f1, "categories.micro_f1": self.micro.f1}
        return [f"{name} {values[name]:.3f} < {target}" for name, target in TARGETS.items() if values[name] < target]


def _diff(kind: str, ad_id: str, gold: set[str], got: set[str]) -> dict[str, Any] | None:
    if gold == got:
        return None
    return {"id": ad_id, "kind": kind, "missed": sorted(gold - got), "extra": sorted(got - gold)}


def evaluate(path: Path, default_region: str) -> Evaluation:
    """``default_region`` (ADWATCH_DEFAULT_REGION) for lines that give no ``region``."""
    result = Evaluation()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            ad = json.loads(line)
            text = ad["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a labelled ad: {exc}") from None
        facts = extract(text, title=ad.get("title") or None, region=ad.get("region") or default_region,
                        location_field=ad.get("location_field"))
        result.ads += 1
        pairs = {
            "phones": (set(ad.get("phones") or []), set(facts["phones"])),
            "towns": (set(ad.get("towns") or []), {t["name"] for t in facts["towns"]}),
            "categories": (set(ad.get("categories") or []), {i["category"] for i in facts["indicators"]}),
        }
        result.phones.add(*pairs["phones"])
        result.towns.add(*pairs["towns"])
        gold_cats, got_cats = pairs["categories"]
        for category, score in result.categories.items():
            score.add({category} & gold_cats, {category} & got_cats)
        if ad.get("language"):
            result.language["right" if facts["language"] == ad["language"] else "wrong"] += 1
        for kind, (gold, got) in pairs.items():
            diff = _diff(kind, ad.get("id", f"line {number}"), gold, got)
            if diff:
                result.errors.append(diff)
    return result
