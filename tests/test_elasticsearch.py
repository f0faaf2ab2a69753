"""The Elasticsearch store beyond the shared suite: indices, the CLI, reindex, and a node
that goes down in the middle of a crawl (a node of this test's own, stopped and started)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adwatch.demo.server import DemoSite
from index.elastic import ElasticStore
from index.query import SearchQuery
from index.spool import Spool
from tests.conftest import ADWATCH, ROOT, run_adwatch, run_json
from tests.es_node import NodeError, healthy, java_home
from tests.es_node import start as start_node
from tests.es_node import stop as stop_node
from tests.test_crawl import expected_ids
from tests.test_store_conformance import ad

OUTAGE_PORT = 9250


def es_env(url: str, prefix: str) -> dict[str, str]:
    return {"ADWATCH_STORE": f"elasticsearch+{url}", "ADWATCH_ES_PREFIX": prefix}


def run_es(*args: str, home: Path, url: str, prefix: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_") or k.startswith("ADWATCH_TEST")}
    env = {**inherited, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error", **es_env(url, prefix)}
    result = subprocess.run([*ADWATCH, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"adwatch {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def test_indices_are_versioned_behind_aliases_from_templates(es_url: str, es_prefix: str) -> None:
    store = ElasticStore(es_url, prefix=es_prefix)
    aliases = store.es.indices.get_alias(index=f"{es_prefix}-*").body
    assert {name: sorted(info["aliases"]) for name, info in aliases.items()} == {
        f"{es_prefix}-{kind}-v1": [f"{es_prefix}-{kind}"] for kind in ("ads", "phones", "versions", "runs", "alerts",
                                                                         "saved", "audit", "holds")}
    mapping = store.es.indices.get_mapping(index=f"{es_prefix}-ads").body[f"{es_prefix}-ads-v1"]["mappings"]
    fields = mapping["properties"]
    assert fields["phones"]["type"] == "keyword" and fields["town_names"]["type"] == "keyword"
    assert fields["geo"]["type"] == "geo_point" and fields["seen_date"]["type"] == "date"
    assert fields["text"]["type"] == "text" and fields["title"]["fields"]["keyword"]["type"] == "keyword"
    assert fields["indicators"]["properties"]["category"]["type"] == "keyword"
    assert mapping["dynamic"] == "false"
    assert ElasticStore(es_url, prefix=es_prefix).create() == []  # idempotent
    store.close()


def test_reindex_copies_everything_and_swaps_the_alias(es_url: str, es_prefix: str) -> None:
    store = ElasticStore(es_url, prefix=es_prefix)
    store.write_ads([ad(n, phones=["+46701740605"]) for n in range(30)])
    store.write_ads([ad(1, title="Changed", content_hash="changed", phones=["+46701740605"])])
    done = store.reindex()
    assert done["ads"] == (f"{es_prefix}-ads-v1", f"{es_prefix}-ads-v2", 30)
    assert done["versions"][2] == 1
    store.refresh()
    assert store.summary()["ads"] == 30 and store.get_ad("s:1")["title"] == "Changed"  # type: ignore[index]
    assert [v["title"] for v in store.ad_versions("s:1")] == ["Ad 1"]
    record = store.phone_record("+46701740605")
    assert record is not None and record["ads_count"] == 30
    assert not store.es.indices.exists(index=f"{es_prefix}-ads-v1")
    store.close()


def test_a_malformed_field_loses_the_field_not_the_ad(es_url: str, es_prefix: str) -> None:
    store = ElasticStore(es_url, prefix=es_prefix)
    store.write_ads([ad(1, age="twenty", posted_at="not a date")])
    store.refresh()
    got = store.get_ad("s:1")
    assert got is not None and got["age"] == "twenty"
    assert store.summary()["ads"] == 1
    store.close()


def test_an_unreachable_node_is_store_unavailable_not_a_crash(tmp_path: Path) -> None:
    from index.store import StoreUnavailable

    store = ElasticStore("http://127.0.0.1:9", prefix="nowhere", timeout=1.0)  # nothing listens on port 9
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.write_ads([ad(1)])
    store.close()
    home = tmp_path / "home"
    home.mkdir()
    result = run_es("search", "x", home=home, url="http://127.0.0.1:9", prefix="nowhere")
    assert result.returncode == 3
    assert "store unavailable" in result.stderr and "Traceback" not in result.stderr


def test_cli_crawl_search_and_index_commands(es_url: str, es_prefix: str, home: Path) -> None:
    with DemoSite(seed=11, count=40, flaky=False) as site:
        crawled = run_es("crawl", "annonsguiden", "nightlist", "--base-url", site.base_url, "--json", home=home,
                         url=es_url, prefix=es_prefix, check=True)
        expected = expected_ids(site)
    assert {run["status"] for run in json.loads(crawled.stdout)} == {"ok"}
    stats = json.loads(run_es("index", "stats", "--json", home=home, url=es_url, prefix=es_prefix,
                              check=True).stdout)
    assert stats["indices"][f"{es_prefix}-ads"]["docs"] == len(expected) and stats["spooled_batches"] == 0
    found = json.loads(run_es("search", "--limit", "100", "--json", home=home, url=es_url, prefix=es_prefix,
                              check=True).stdout)
    assert found["total"] == len(expected) and {h["id"] for h in found["hits"]} == expected
    near = json.loads(run_es("search", "--near", "Stockholm", "--km", "30", "--json", home=home, url=es_url,
                             prefix=es_prefix, check=True).stdout)
    assert near["total"] > 0 and all(h["town"] for h in near["hits"])
    flagged = json.loads(run_es("search", "--category", "youth", "--min-score", "1", "--json", home=home,
                                url=es_url, prefix=es_prefix, check=True).stdout)
    assert all(h["indicator_score"] >= 1 and any(i["category"] == "youth" for i in h["indicators"])
               for h in flagged["hits"])
    bad = run_es("search", "--category", "colour", home=home, url=es_url, prefix=es_prefix)
    assert bad.returncode == 2 and "unknown colour" in bad.stderr


@pytest.fixture
def own_node() -> Iterator[str]:
    """A node on a port of its own, since this test stops and starts it."""
    if java_home() is None and os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip("no Java: cannot run a node of this test's own")
    try:
        url = start_node(OUTAGE_PORT)
    except NodeError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        pytest.skip(f"cannot start a node: {exc}")
    yield url
    stop_node(OUTAGE_PORT)


def _count(url: str, prefix: str) -> int:
    try:
        store = ElasticStore(url, prefix=prefix, create=False, timeout=2.0)
        store.refresh()
        count = int(store.es.count(index=f"{prefix}-ads")["count"])
        store.close()
        return count
    except Exception:  # noqa: BLE001  (a node on its way down)
        return -1


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_node_down_mid_crawl_loses_nothing_and_writes_each_ad_once(own_node: str, home: Path) -> None:
    prefix = "outage"
    ElasticStore(own_node, prefix=prefix).drop()
    env = {**os.environ, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error", **es_env(own_node, prefix)}
    spool = Spool(home / f"elasticsearch-127.0.0.1_{OUTAGE_PORT}-{prefix}.spool")
    log = home / "crawl.log"
    with DemoSite(seed=5, count=160, flaky=False) as site, log.open("w") as errors:
        # Slow and steady, so the node can go down and come back while the crawl runs.
        crawl = subprocess.Popen(
            [*ADWATCH, "crawl", "annonsguiden", "nightlist", "--base-url", site.base_url, "--json",
             "-s", "ADWATCH_STORE_BATCH_SIZE=10", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0.1",
             "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1", "-s", "ADWATCH_ES_TIMEOUT=2"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            _wait(lambda: _count(own_node, prefix) >= 20, 120, "the first batches")
            stop_node(OUTAGE_PORT)
            assert not healthy(own_node)
            _wait(lambda: len(spool.pending()) >= 2 or crawl.poll() is not None, 120, "spooled batches")
            assert len(spool.pending()) >= 1, "nothing was spooled while the node was down"
            start_node(OUTAGE_PORT)
            stdout, _ = crawl.communicate(timeout=300)
        finally:
            if crawl.poll() is None:
                crawl.kill()
                crawl.communicate()
        expected = expected_ids(site)
    stderr = log.read_text()
    assert "Traceback" not in stderr, stderr[-3000:]
    # Whatever the crawl could not replay itself, `index flush` writes now.
    flushed = subprocess.run([*ADWATCH, "index", "flush"], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert flushed.returncode == 0, flushed.stderr
    assert spool.pending() == []
    store = ElasticStore(own_node, prefix=prefix)
    store.refresh()
    hits = store.search(SearchQuery(limit=1000, facets=False))
    assert {h["id"] for h in hits.hits} == expected  # every ad arrived …
    assert hits.total == len(expected)  # … exactly once
    assert store.es.count(index=f"{prefix}-versions")["count"] == 0  # replays made no spurious versions
    for phone, count in {p: sum(p in h["phones"] for h in hits.hits) for h in hits.hits for p in h["phones"]}.items():
        record = store.phone_record(phone)
        assert record is not None and record["ads_count"] == count
    store.drop()
    store.close()
    assert stdout  # the crawl reported its runs


def test_make_demo_style_run_against_elasticsearch(es_url: str, es_prefix: str, home: Path) -> None:
    """`adwatch demo --no-serve` with ADWATCH_STORE pointing at the node."""
    result = run_adwatch("demo", "--no-serve", home=home, env=es_env(es_url, es_prefix), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "phone numbers" in result.stdout or "phones" in result.stdout
    # The same alerts as on SQLite: the rules and the registry behave alike on both stores.
    alerts = [json.loads(line) for line in run_adwatch("alerts", "list", "--limit", "1000", "--json", home=home,
                                                        env=es_env(es_url, es_prefix), check=True).stdout.splitlines()]
    assert {a["rule"] for a in alerts} == {"new-near-highway", "travelling-number", "watched-towns"}
    replay = run_json("alerts", "evaluate", "--since", "90d", home=home, env=es_env(es_url, es_prefix))
    assert replay["new"] == 0 and replay["raised"] >= len(alerts)  # real time missed nothing


@pytest.mark.parametrize(("status", "unavailable"), [(429, True), (503, True), (500, True), (400, False),
                                                     (404, False), (409, False)])
def test_busy_or_failing_answers_are_store_unavailable_refusals_pass(status: int, unavailable: bool) -> None:
    from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
    from elasticsearch import ApiError

    from index.elastic.base import _Guard
    from index.store import StoreUnavailable

    meta = ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(), duration=0.0,
                           node=NodeConfig("http", "127.0.0.1", 9200))
    expected = StoreUnavailable if unavailable else ApiError
    with pytest.raises(expected) as caught, _Guard("http://127.0.0.1:9200"):
        raise ApiError("refused", meta, {})
    assert isinstance(caught.value, StoreUnavailable) == unavailable
