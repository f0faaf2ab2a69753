"""Web benchmark: server-side latency of the search page and the search API over 100,000 ads,
on SQLite and on Elasticsearch, beside the store's own search latency for the same queries.

The ads, the way they are indexed and the words analysts type come from ``bench.index_bench``.
For each store the benchmark fills it, adds an analyst with ``adwatch users add`` and an API
token with ``adwatch users token-create``, and runs ``adwatch serve`` as a subprocess on a free
loopback port (uvicorn, real HTTP). The page is asked through a session from the real login
form, the API with the token. Every answer carries ``Server-Timing: app;dur=<ms>``
(``adwatch/web/security.py``): the server's own time for it, which is the figure measured here
(the client's round trip is recorded too). Each search writes its audit entry, as in service.

The queries are analyst searches over the web parameters (words and phrases, town, county, a
road corridor, categories, minimum score, dates, sort, later pages), issued one at a time after
a warm-up, the same list through the page and the API, and, parsed by
``adwatch.web.params.parse_search`` into the same ``SearchQuery``, straight to ``store.search``
in this process, in turns of a few queries each (the machine's load drifts alike for all three):
what the web layer adds is the difference. Also printed: an audit append alone, and the server
time of ``GET /api/v1/me`` (an answer without a search). When SQLite misses its target, the
slowest kinds of query say where to look.

    python -m bench.web_bench [--ads N] [--requests N] [--no-es] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import httpx

from bench.index_bench import _COMMON, _WEIGHTS, _WORDS, BATCH, _elastic_url, _index, synthetic_ads
from index.store import Store
from nlp.indicators import CATEGORIES

ROOT = Path(__file__).resolve().parent.parent
ADWATCH = [sys.executable, "-m", "adwatch"]
TARGET_P95_MS = 150.0  # the target, for SQLite: page and API, server-side
USER = "bench"
WARMUP = 20
BLOCK = 20  # queries per turn of page, API and store
_TIMING = re.compile(r"\bapp;dur=([0-9.]+)")


# --- the query mix ------------------------------------------------------------------
def _words(rng: random.Random) -> str:
    return " ".join(rng.choices(_WORDS, _WEIGHTS, k=rng.choice((1, 1, 2))))


def _phrase(rng: random.Random) -> str:
    return '"' + " ".join(rng.sample(_COMMON, 2)) + '"'


def _date(rng: random.Random) -> str:
    return f"2026-{rng.randrange(6, 12):02d}-{rng.randrange(1, 29):02d}"


def queries(ads: list[dict[str, Any]], count: int, seed: int = 5) -> list[tuple[str, str]]:
    """(kind, URL query string) pairs: what analysts search, a filter or three at a time."""
    rng = random.Random(seed)
    towns = [ad["town"] for ad in ads]
    counties = sorted({ad["county"] for ad in ads if ad.get("county")})
    phones = sorted({p for ad in ads for p in ad["phones"] if p.startswith("+46")})  # fiction numbers only
    makers: dict[str, Callable[[], list[tuple[str, str]]]] = {
        "words": lambda: [("q", _words(rng))],
        "phrase": lambda: [("q", _phrase(rng))],
        "words_town": lambda: [("q", _words(rng)), ("town", rng.choice(towns))],
        "town": lambda: [("town", rng.choice(towns))],
        "county_cat": lambda: [("county", rng.choice(counties)), ("cat", rng.choice(CATEGORIES))],
        "road_corridor": lambda: [("road", rng.choice(("E4", "E4", "E6", "E20"))), ("road_km", "10")]
        + ([("cat", rng.choice(CATEGORIES))] if rng.random() < 0.5 else []),
        "near_town": lambda: [("near", rng.choice(towns)), ("km", "25")],
        "cats_min_score": lambda: [*(("cat", c) for c in rng.sample(CATEGORIES, rng.choice((1, 2)))),
                                   ("min_score", str(rng.choice((1, 2, 3))))],
        "dates_newest": lambda: [("since", _date(rng)), ("sort", "newest")]
        + ([("q", _words(rng))] if rng.random() < 0.5 else []),
        "score_sort": lambda: [("q", _words(rng)), ("sort", "score")],
        "phone": lambda: [("phone", rng.choice(phones))],
        "source": lambda: [("source", rng.choice(("annonsguiden", "nightlist"))), ("town", rng.choice(towns))],
        "page_2_3": lambda: [("q", rng.choice(_COMMON)), ("page", str(rng.choice((2, 3))))],
    }
    weights = {"words": 4, "phrase": 1, "words_town": 3, "town": 2, "county_cat": 2, "road_corridor": 2,
               "near_town": 1, "cats_min_score": 2, "dates_newest": 2, "score_sort": 1, "phone": 1, "source": 1,
               "page_2_3": 2}
    kinds = rng.choices(list(weights), list(weights.values()), k=count)
    return [(kind, urlencode(makers[kind]())) for kind in kinds]


# --- the server -----------------------------------------------------------------------
def _env(home: Path, store: str, extra: dict[str, str]) -> dict[str, str]:
    """This machine's environment without its ADWATCH_* settings, then the bench's."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_") or k.startswith("ADWATCH_TEST")}
    return {**inherited, "ADWATCH_HOME": str(home), "ADWATCH_STORE": store, **extra}


def _adwatch(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([*ADWATCH, *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"adwatch {' '.join(args[:2])} exited {done.returncode}: {done.stderr[-1000:]}")
    return done.stdout


@dataclass
class Server:
    url: str
    password: str
    token: str
    log: Path


@contextmanager
def serving(home: Path, env: dict[str, str]) -> Iterator[Server]:
    """An analyst with a password and a token, and ``adwatch serve`` on a free loopback port."""
    import secrets

    password = secrets.token_urlsafe(16)
    _adwatch(env, "users", "add", USER, "--role", "analyst", "--password-stdin", stdin=password + "\n")
    token = _adwatch(env, "users", "token-create", USER, "--label", "bench").strip()
    from tests.web_env import adwatch_serve

    log_path = home / "server.log"
    with adwatch_serve(env, log_path) as url:
        yield Server(url, password, token, log_path)


def login(server: Server) -> httpx.Client:
    """A client holding a session from the real login form (its hidden CSRF field and cookie)."""
    client = httpx.Client(base_url=server.url, follow_redirects=False, timeout=120)
    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]*)"', page.text)
    if found is None:
        raise RuntimeError("the login page has no csrf field")
    answer = client.post("/login", data={"name": USER, "password": server.password, "csrf": found.group(1),
                                         "next": "/search"})
    if answer.status_code != 303:
        raise RuntimeError(f"login failed: {answer.status_code} {answer.text[:300]}")
    return client


# --- measuring --------------------------------------------------------------------------
def _percentiles(times: list[float]) -> dict[str, float]:
    if not times:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(ordered), 1), "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
            "max_ms": round(ordered[-1], 1)}


def _slowest_kinds(kinds: list[str], times: list[float], top: int = 4) -> list[tuple[str, float]]:
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, ms in zip(kinds, times, strict=True):
        by_kind[kind].append(ms)
    medians = {kind: round(statistics.median(values), 1) for kind, values in by_kind.items()}
    return sorted(medians.items(), key=lambda pair: -pair[1])[:top]


@dataclass
class _Series:
    """One way of asking (the page, the API, the store): its times, in the order of the mix."""

    server: list[float] = field(default_factory=list)  # Server-Timing, or the call's own time in process
    round_trip: list[float] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)

    def get(self, client: httpx.Client, url: str) -> None:
        started = time.perf_counter()
        answer = client.get(url)
        self.round_trip.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            self.failed[f"{answer.status_code} {url}"] = self.failed.get(f"{answer.status_code} {url}", 0) + 1
        timing = _TIMING.search(answer.headers.get("server-timing", ""))
        self.server.append(float(timing.group(1)) if timing else float("nan"))

    def summary(self, kinds: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {**_percentiles(self.server), "slowest_kinds": _slowest_kinds(kinds, self.server)}
        if self.round_trip:
            out |= {"round_trip": _percentiles(self.round_trip), "failed": self.failed}
        return out


def _context(env: dict[str, str]) -> Any:
    """The search context the server builds from these settings (``adwatch serve``'s ``build_app``)."""
    from adwatch.serve_cmd import build_app
    from adwatch.settings import load_settings

    overrides = {k: v for k, v in env.items() if k.startswith("ADWATCH_") and not k.startswith("ADWATCH_TEST")}
    app, _config = build_app(load_settings(overrides))
    app.state.accounts.close()
    return app.state.context


def _measure(home: Path, env: dict[str, str], store: Store, mix: list[tuple[str, str]],
             warmup: list[tuple[str, str]]) -> dict[str, Any]:
    """The mix in blocks of ``BLOCK`` queries: through the page, then the API, then straight to
    ``store.search`` in this process (parsed as the server parses them), so a change in the
    machine's load meanwhile touches all three alike. Then the audit entry each search writes
    (``adwatch.web.audit.record``, as ``views.search`` calls it), timed on its own: a write here
    while the server runs would empty the server's SQLite page cache (and the server's audit
    writes empty ours: each store block first reads once, untimed)."""
    from starlette.datastructures import QueryParams

    from adwatch.web.audit import record
    from adwatch.web.params import describe, parse_search

    context = _context(env)
    parsed = {query: parse_search(cast(Any, QueryParams(query)), context) for _kind, query in warmup + mix}
    for one in parsed.values():
        one.query.facets = False  # as views.search asks: the page's facet counts are a second request
    page, api, in_store, audit, facets = _Series(), _Series(), _Series(), _Series(), _Series()
    hits: list[int] = []
    with serving(home, env) as server, closing(login(server)) as page_client, \
            httpx.Client(base_url=server.url, timeout=120,
                         headers={"authorization": f"Bearer {server.token}"}) as api_client:
        for _kind, query in warmup:
            page_client.get(f"/search?{query}")
            api_client.get(f"/api/v1/search?{query}")
            store.search(parsed[query].query)
        for first in range(0, len(mix), BLOCK):
            block = [query for _kind, query in mix[first : first + BLOCK]]
            for query in block:
                page.get(page_client, f"/search?{query}")
            for query in block:
                api.get(api_client, f"/api/v1/search?{query}")
            for query in block:
                facets.get(page_client, f"/search/facets?{query}")
            store.search(parsed[warmup[0][1]].query)  # read what the server's audit entries changed
            for query in block:
                one = parsed[query]
                started = time.perf_counter()
                result = store.search(one.query) if not one.matches_nothing else None  # as views.search skips it
                in_store.server.append((time.perf_counter() - started) * 1000)
                hits.append(result.total if result else 0)
        floor = _floor(api_client)
    for (_kind, query), total in zip(mix, hits, strict=True):
        started = time.perf_counter()
        record(store, USER, "search", describe(parsed[query].form), total)
        audit.server.append((time.perf_counter() - started) * 1000)
    kinds = [kind for kind, _query in mix]
    return {"page": page.summary(kinds), "api": api.summary(kinds), "facets": facets.summary(kinds),
            "store": in_store.summary(kinds) | {"median_hits": int(statistics.median(hits))},
            "audit_append": _percentiles(audit.server), "floor": floor}


def _floor(client: httpx.Client, count: int = 100) -> dict[str, float]:
    """Server time of GET /api/v1/me: what every answer costs before any search (middleware,
    the token check, routing, JSON)."""
    series = _Series()
    for _ in range(10):
        client.get("/api/v1/me")
    for _ in range(count):
        series.get(client, "/api/v1/me")
    return _percentiles(series.server)


def run(count: int = 100_000, requests: int = 200, elastic: bool = True) -> dict[str, Any]:
    from config.settings import ADWATCH_DEFAULT_REGION
    from index.sqlite import SqliteStore

    load_before = os.getloadavg()[0]
    ads = synthetic_ads(count, ADWATCH_DEFAULT_REGION)
    every = queries(ads, WARMUP + requests)
    warmup, mix = every[:WARMUP], every[WARMUP:]
    result: dict[str, Any] = {"ads": count, "requests": requests, "warmup": WARMUP, "target_p95_ms": TARGET_P95_MS}
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        store: Store = SqliteStore(home / "adwatch.db")
        try:
            started = time.perf_counter()
            _index(store, ads)
            result["sqlite_fill_s"] = round(time.perf_counter() - started, 1)
            result["sqlite"] = _measure(home, _env(home, "sqlite", {}), store, mix, warmup)
        finally:
            store.close()
    result["elasticsearch"] = _elastic(ads, mix, warmup) if elastic else None
    result["load_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def _elastic(ads: list[dict[str, Any]], mix: list[tuple[str, str]], warmup: list[tuple[str, str]]
             ) -> dict[str, Any] | None:
    url, started_node = _elastic_url()
    if url is None:
        return None
    from index.elastic import ElasticStore

    prefix = f"benchweb{int(time.time())}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            home = Path(folder)
            store: Store = ElasticStore(url, prefix=prefix, bulk_chunk=BATCH)
            try:
                started = time.perf_counter()
                _index(store, ads)
                fill_s = round(time.perf_counter() - started, 1)
                env = _env(home, f"elasticsearch+{url}", {"ADWATCH_ES_PREFIX": prefix})
                return {"fill_s": fill_s, **_measure(home, env, store, mix, warmup)}
            finally:
                store.close()
    finally:
        cleanup = ElasticStore(url, prefix=prefix, create=False)
        cleanup.drop()
        cleanup.close()
        if started_node:
            from tests.es_node import stop

            stop(9200)


def _row(label: str, m: dict[str, Any]) -> str:
    return f"    {label:28} p50 {m['p50_ms']:6.1f} ms  p95 {m['p95_ms']:6.1f} ms"


def report(result: dict[str, Any]) -> str:
    target = result["target_p95_ms"]
    lines = [f"web: {result['ads']} synthetic ads, {result['requests']} searches each through the page and the API "
             f"after {result['warmup']} warm-up ones; server-side time (Server-Timing), audit entry included"]
    for name in ("sqlite", "elasticsearch"):
        measured = result.get(name)
        if measured is None:
            lines.append(f"  {name}: no node (Java/Maven missing) — skipped")
            continue
        lines.append(f"  {name}:")
        for part, label in (("page", "search page /search"), ("api", "search API /api/v1/search"),
                            ("store", "store.search, same queries"), ("facets", "facet counts /search/facets")):
            m = measured[part]
            line = _row(label, m)
            if part != "store":
                line += f"  (round trip p95 {m['round_trip']['p95_ms']:.1f} ms)"
                if name == "sqlite" and part != "facets":
                    line += f"  {'met' if m['p95_ms'] <= target else 'NOT MET'}: p95 ≤ {target:g} ms"
                if m["failed"]:
                    line += f"  {sum(m['failed'].values())} answers not 200"
            lines.append(line)
            slow = ", ".join(f"{kind} {ms:.0f}" for kind, ms in m["slowest_kinds"])
            lines.append(f"    {'':28} slowest kinds (median ms): {slow}")
        store = measured["store"]
        lines.append(_row("audit append, in process", measured["audit_append"]))
        lines.append(_row("GET /api/v1/me (no search)", measured["floor"]) + "  (middleware, token check, routing)")
        lines.append(f"    the web layer adds at p50 ≈ page {measured['page']['p50_ms'] - store['p50_ms']:+.1f} ms, "
                     f"API {measured['api']['p50_ms'] - store['p50_ms']:+.1f} ms over store.search "
                     f"(median {store['median_hits']} hits)")
    lines.append(f"  load {result['load_1min'][0]} → {result['load_1min'][1]} (1-min average, "
                 f"{os.cpu_count()} CPUs)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_bench")
    parser.add_argument("--ads", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-es", action="store_true", help="SQLite only")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON on stdout")
    args = parser.parse_args(argv)
    outcome = run(args.ads, args.requests, elastic=not args.no_es)
    print(report(outcome), file=sys.stderr)
    if args.json:
        print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
