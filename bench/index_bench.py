"""Index benchmark: 100,000 synthetic ads into SQLite and into Elasticsearch, then search.

Bulk indexing (ads/s through ``Store.write_ads``, phone registry included) and search
latency (p50/p95 over varied queries of five kinds) on both stores, in this one run; the
ES/SQLite ratios are printed beside the targets. Elasticsearch is the node of
``ADWATCH_TEST_ES_URL``, else one this benchmark starts (``tests/es_node.py``).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adwatch.demo.generator import FICTION_NUMBERS
from geo.gazetteer import gazetteer
from index.query import Near, SearchQuery
from index.sqlite import SqliteStore
from index.store import Store
from nlp.indicators import CATEGORIES

TARGETS = {"sqlite_ads_per_s": 5000, "es_ads_per_s": 3000, "p95_ms": 100}
BATCH = 1000
_COMMON = ("massage relax tjej ny stan hotell incall outcall diskret söt ung välkommen ring sms whatsapp trevlig "
           "escort sensuell helg kväll natt besök centrum lägenhet dusch olja svensk student").split()


def _vocabulary(size: int = 4000, seed: int = 3) -> tuple[list[str], list[float]]:
    """Ad-like words with Zipf frequencies: a few words in most ads, most words in few."""
    rng = random.Random(seed)
    syllables = "ka lo mi sa ne ti ra vo le na du pe si ma ko ja be ri fa tu".split()
    made = {"".join(rng.choice(syllables) for _ in range(rng.randrange(2, 5))) for _ in range(size * 2)}
    words = _COMMON + sorted(made - set(_COMMON))[: size - len(_COMMON)]
    return words, [1 / (rank + 1) ** 1.1 for rank in range(len(words))]


_WORDS, _WEIGHTS = _vocabulary()


def synthetic_ads(count: int, region: str, seed: int = 1) -> list[dict[str, Any]]:
    """Ads as the pipeline would store them: text, fiction phones, the towns of ``region``'s
    gazetteer, indicators."""
    rng = random.Random(seed)
    towns = sorted(gazetteer(region).towns, key=lambda t: -t.population)[:300]
    # The fiction ranges hold 395 numbers; real data has far more, most in a few ads each.
    # The rest are obviously fake (+999 is no country), Zipf-distributed like real reposting.
    phones = sorted(FICTION_NUMBERS) + [f"+999{n:08d}" for n in range(20_000)]
    phone_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(phones))]
    start = datetime(2026, 6, 1, tzinfo=UTC)
    ads = []
    for n in range(count):
        town = towns[min(int(rng.expovariate(1 / 30)), len(towns) - 1)]
        seen = (start + timedelta(minutes=rng.randrange(180 * 24 * 60))).strftime("%Y-%m-%dT%H:%M:%SZ")
        (number,) = rng.choices(phones, phone_weights)
        categories = rng.sample(CATEGORIES, rng.choice((0, 0, 1, 1, 2, 3)))
        words = " ".join(rng.choices(_WORDS, _WEIGHTS, k=rng.randrange(20, 60)))
        ads.append({
            "id": f"bench:{n}", "source": rng.choice(("annonsguiden", "nightlist")), "url": f"http://x/{n}",
            "title": f"{rng.choice(_COMMON).title()} i {town.name}", "text": f"{words}. Ring {number}.",
            "posted_at": seen, "first_seen_at": seen, "last_seen_at": seen, "content_hash": f"h{n}", "version": 1,
            "phones": [number], "phone_details": [{"e164": number, "raw": number, "start": 0, "end": 0,
                                                   "country": region, "line_type": "mobile", "obfuscated": False}],
            "towns": [{"name": town.name, "county": town.county, "lat": town.lat, "lon": town.lon,
                       "found_in": "text", "start": 0, "end": 0}],
            "town": town.name, "county": town.county, "lat": town.lat, "lon": town.lon, "language": "sv",
            "indicators": [{"category": c, "phrase": c, "start": 0, "end": 1, "rule": f"bench.{c}", "weight": 1.0}
                           for c in categories],
            "indicator_score": float(len(categories)),
        })
    return ads


def _index(store: Store, ads: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for first in range(0, len(ads), BATCH):
        store.write_ads(ads[first : first + BATCH])
    store.refresh()
    return len(ads) / (time.perf_counter() - started)


def _queries(ads: list[dict[str, Any]], rounds: int, seed: int = 2) -> dict[str, list[SearchQuery]]:
    rng = random.Random(seed)
    sample = [rng.choice(ads) for _ in range(rounds)]
    return {
        # What analysts type: a word or two, drawn as often as the ads use them.
        "full_text": [SearchQuery(text=" ".join(rng.choices(_WORDS, _WEIGHTS, k=rng.choice((1, 2)))), facets=False)
                      for _ in sample],
        "phone": [SearchQuery(phone=ad["phones"][0], facets=False) for ad in sample],
        "town_and_dates": [SearchQuery(towns=[ad["town"]], since=datetime(2026, 8, 1, tzinfo=UTC),
                                       until=datetime(2026, 10, 1, tzinfo=UTC), facets=False) for ad in sample],
        "geo_distance": [SearchQuery(near=Near(ad["lat"], ad["lon"], 25.0), facets=False) for ad in sample],
        "category_facets": [SearchQuery(categories=[rng.choice(CATEGORIES)], facets=True) for _ in sample],
    }


def _latencies(store: Store, queries: dict[str, list[SearchQuery]]) -> dict[str, dict[str, float]]:
    out = {}
    for kind, batch in queries.items():
        store.search(batch[0])  # warm caches, as a running service has them
        times = []
        for query in batch:
            started = time.perf_counter()
            store.search(query)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        out[kind] = {"p50_ms": round(statistics.median(times), 1),
                     "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)}
    return out


def _measure(open_store: Callable[[], Store], ads: list[dict[str, Any]],
             queries: dict[str, list[SearchQuery]]) -> dict[str, Any]:
    store = open_store()
    try:
        rate = _index(store, ads)
        return {"ads_per_s": round(rate, 1), "search": _latencies(store, queries)}
    finally:
        store.close()


def _elastic_url() -> tuple[str | None, bool]:
    from tests.es_node import ensure

    return ensure(9200)


def run(count: int = 100_000, rounds: int = 50) -> dict[str, Any]:
    from config.settings import ADWATCH_DEFAULT_REGION  # the deployment's country: its towns

    ads = synthetic_ads(count, ADWATCH_DEFAULT_REGION)
    queries = _queries(ads, rounds)
    result: dict[str, Any] = {"ads": count, "batch": BATCH, "targets": TARGETS}
    with tempfile.TemporaryDirectory() as folder:
        result["sqlite"] = _measure(lambda: SqliteStore(Path(folder) / "bench.db"), ads, queries)
    url, started = _elastic_url()
    if url is None:
        result["elasticsearch"] = None
        return result
    from index.elastic import ElasticStore

    prefix = f"bench{int(time.time())}"
    try:
        result["elasticsearch"] = _measure(lambda: ElasticStore(url, prefix=prefix, bulk_chunk=BATCH), ads, queries)
    finally:
        cleanup = ElasticStore(url, prefix=prefix, create=False)
        cleanup.drop()
        cleanup.close()
        if started:
            from tests.es_node import stop

            stop(9200)
    sqlite, elastic = result["sqlite"], result["elasticsearch"]
    result["es_to_sqlite"] = {
        "ads_per_s": round(elastic["ads_per_s"] / sqlite["ads_per_s"], 2),
        **{f"{kind}_p95": round(elastic["search"][kind]["p95_ms"] / max(0.1, sqlite["search"][kind]["p95_ms"]), 2)
           for kind in sqlite["search"]},
    }
    return result


def report(result: dict[str, Any]) -> str:
    def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
        ok = value >= target if higher_is_better else value <= target
        return "meets" if ok else "BELOW"

    lines = [f"index: {result['ads']} synthetic ads, batches of {result['batch']}"]
    for name, key in (("sqlite", "sqlite_ads_per_s"), ("elasticsearch", "es_ads_per_s")):
        measured = result.get(name)
        if measured is None:
            lines.append(f"  {name}: no node (Java/Maven missing) — skipped")
            continue
        lines.append(f"  {name}: {measured['ads_per_s']} ads/s ({verdict(measured['ads_per_s'], TARGETS[key])} "
                     f"target {TARGETS[key]})")
        for kind, lat in measured["search"].items():
            lines.append(f"    {kind:16} p50 {lat['p50_ms']:6.1f} ms  p95 {lat['p95_ms']:6.1f} ms "
                         f"({verdict(lat['p95_ms'], TARGETS['p95_ms'], False)} p95 ≤ {TARGETS['p95_ms']} ms)")
    if "es_to_sqlite" in result:
        ratios = " · ".join(f"{k} {v}" for k, v in result["es_to_sqlite"].items())
        lines.append(f"  ES/SQLite: {ratios}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
