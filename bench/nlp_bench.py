"""NLP throughput: ads/s of ``nlp.extract_many`` against ``phonenumbers.PhoneNumberMatcher`` alone.

Same texts, same process, same run: the labelled development corpus plus the demo
site's ads. The pipeline is loaded (and warmed) before timing, as in a crawl. The NLP
side takes each slice of ads as one batch through ``nlp.pipe``, as ``adwatch extract``
does; the matcher reads the same ads one by one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import phonenumbers

from adwatch.demo import generate_ads
from nlp import extract_many
from nlp.phones import clear_number_cache

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.27
REGION = "SE"  # the corpus: Swedish ads with numbers from the regulator's fiction ranges


def _texts() -> list[tuple[str, str]]:
    corpus = [json.loads(line) for line in (ROOT / "tests" / "data" / "nlp_dev.jsonl").read_text("utf-8").splitlines()]
    pairs = [(ad.get("title") or "", ad["text"]) for ad in corpus]
    pairs += [(ad.title, ad.text) for ad in generate_ads(seed=7, count=360)]
    return pairs


_CHUNK = 50  # ads per timed slice


def run(rounds: int = 5) -> dict[str, Any]:
    items = _texts()
    extract_many([{"text": "warm up: ring 070-174 06 05 i Gävle", "title": "x"}], default_region=REGION)

    def full(chunk: list[tuple[str, str]]) -> None:
        extract_many([{"text": text, "title": title or None} for title, text in chunk], default_region=REGION)

    def matcher(chunk: list[tuple[str, str]]) -> None:
        for title, text in chunk:
            list(phonenumbers.PhoneNumberMatcher(f"{title}\n{text}", REGION))

    # The two take turns every few dozen ads, so a slow moment of a shared machine falls
    # on both; each round starts with no parsed numbers cached, so a number is "known"
    # only within one pass over the corpus.
    spent = {full: 0.0, matcher: 0.0}
    for _ in range(rounds):
        clear_number_cache()
        for first in range(0, len(items), _CHUNK):
            chunk = items[first : first + _CHUNK]
            for work in (full, matcher):
                started = time.perf_counter()
                work(chunk)
                spent[work] += time.perf_counter() - started
    ours, theirs = (rounds * len(items) / spent[work] for work in (full, matcher))
    return {"ads": len(items), "extract_ads_per_s": round(ours, 1), "matcher_ads_per_s": round(theirs, 1),
            "ratio": round(ours / theirs, 3), "target_ratio": TARGET_RATIO}


def report(result: dict[str, Any]) -> str:
    verdict = "meets" if result["ratio"] >= result["target_ratio"] else "BELOW"
    return (f"nlp: extract {result['extract_ads_per_s']} ads/s · PhoneNumberMatcher alone "
            f"{result['matcher_ads_per_s']} ads/s · ratio {result['ratio']} ({verdict} target "
            f"{result['target_ratio']}) · {result['ads']} ads")
