"""The stage worker (pipelines/worker.py) and its client (pipelines/worker_client.py):
a real worker process on real pipes; the same results as in this process; a worker that
dies or cannot start loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from scrapy import Spider
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from adwatch.demo import generate_ads
from nlp import extract_many
from pipelines.enrich import EnrichPipeline
from pipelines.normalize import NormalizePipeline
from pipelines.textclean import Caps, normalize_fields
from pipelines.worker import answer
from pipelines.worker_client import StageWorker, WorkerError, WorkerGone, WorkerProcess, shared
from spiders.items import Ad
from tests.conftest import ROOT, run_json

T = TypeVar("T")
CORPUS = [json.loads(line) for line in (ROOT / "tests" / "data" / "nlp_dev.jsonl").read_text("utf-8").splitlines()]


def run(make: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(make())  # type: ignore[arg-type]


def records() -> list[dict[str, Any]]:
    found = [{"text": ad["text"], "title": ad.get("title") or None, "region": ad.get("region"),
              "location_field": ad.get("location_field"), "phone_field": None} for ad in CORPUS]
    # What a hostile page can put in an ad: control characters, a lone surrogate, markup, a long text.
    found += [{"text": "ring 070-174 06 05 \x07\x1b[31m \ud800 <script>x</script>", "title": "\x00Ny",
               "region": None, "location_field": "Gävle", "phone_field": "031-390 06 42"},
              {"text": "Söt tjej i Umeå, 0701740605. " * 600, "title": None, "region": "SE",
               "location_field": None, "phone_field": None}]
    return found


def raw_fields() -> list[dict[str, Any]]:
    return [{"title": f"<h1>{ad.title}</h1>", "text": f"<div><p>{ad.text}</p></div>", "location": ad.town,
             "poster": ad.poster, "phone_field": ad.phone_field, "posted_at": ad.posted_at.isoformat(),
             "timezone": "Europe/Stockholm", "age": ad.age, "price": ad.price, "images": list(ad.images) * 2,
             "url": ad.path} for ad in generate_ads(seed=3, count=40)]


async def _both_ops(items: list[dict[str, Any]], raws: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    process = WorkerProcess("SE")
    await process.start()
    try:
        facts = [process.call("extract", item, {"region": "SE"}) for item in items]
        cleaned = [process.call("normalize", raw, {"text": 5000, "field": 1000, "images": 100}) for raw in raws]
        return list(await asyncio.gather(*facts)), list(await asyncio.gather(*cleaned))
    finally:
        await process.stop()


def test_the_worker_gives_the_same_results_as_this_process() -> None:
    items, raws = records(), raw_fields()
    facts, cleaned = run(lambda: _both_ops(items, raws))
    assert [a.get("result") for a in facts] == extract_many(items, default_region="SE")
    assert [a.get("result") for a in cleaned] == [normalize_fields(raw, Caps(text=5000)) for raw in raws]
    assert any(a["result"]["phones"] for a in facts[-2:])  # the hostile ads were read, not dropped


def test_one_bad_item_gets_its_error_and_the_others_their_results() -> None:
    good = {"text": "ring 070-174 06 05"}
    reply = answer({"id": 7, "op": "extract", "args": {"region": "SE"}, "items": [good, {"title": "no text"}, good]})
    assert reply["id"] == 7
    first, bad, last = reply["results"]
    assert first == last and first["result"]["phones"] == ["+46701740605"]
    assert "error" in bad and "KeyError" in bad["error"]
    unknown = answer({"id": 8, "op": "shell", "items": [good]})
    assert unknown["results"] == [{"error": "unknown op 'shell'"}]


async def _killed_mid_batch() -> tuple[list[Any], Any]:
    process = WorkerProcess("SE")
    await process.start()
    assert process.pid is not None
    waiting = [process.call("extract", {"text": f"ring 070-174 06 {n:02d}"}, {"region": "SE"}) for n in range(50)]
    os.kill(process.pid, signal.SIGKILL)
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    later = await asyncio.gather(process.call("extract", {"text": "x"}, {}), return_exceptions=True)
    await process.stop()
    return outcomes, later[0]


def test_a_killed_worker_fails_what_it_held_and_never_hangs() -> None:
    outcomes, later = run(_killed_mid_batch)
    # Whatever it answered before the kill is good; everything else is WorkerGone, none left waiting.
    assert all(isinstance(o, WorkerGone) or o["result"]["phones"] for o in outcomes)
    assert any(isinstance(o, WorkerGone) for o in outcomes)
    assert isinstance(later, WorkerGone) and "stopped" in str(later)


def test_a_worker_that_cannot_build_its_pipeline_says_why() -> None:
    with pytest.raises(WorkerError, match="did not start.*is not a phone region"):
        run(lambda: WorkerProcess("ZZ").start())  # no phone region ZZ, no gazetteer


async def _ctrl_c() -> Any:
    process = WorkerProcess("SE")
    await process.start()
    assert process.pid is not None
    os.kill(process.pid, signal.SIGINT)  # the terminal's Ctrl-C: the crawl decides, not the worker
    try:
        return await process.call("extract", {"text": "ring 070-174 06 05"}, {"region": "SE"})
    finally:
        await process.stop()


def test_the_worker_ignores_ctrl_c_and_goes_on_answering() -> None:
    assert run(_ctrl_c)["result"]["phones"] == ["+46701740605"]


async def _shared_by_two() -> tuple[int | None, int | None, bool, bool]:
    first, second = StageWorker("SE"), StageWorker("SE")
    await asyncio.gather(first.open(), second.open())
    pids = tuple(handle._process.pid if handle._process else None for handle in (first, second))
    process = shared.process
    await first.close()
    still = process is not None and process.alive
    await second.close()
    return pids[0], pids[1], still, process is not None and process.alive


def test_one_worker_serves_every_pipeline_until_the_last_closes() -> None:
    pid, same, alive_after_first, alive_after_last = run(_shared_by_two)
    assert pid is not None and pid == same
    assert alive_after_first and not alive_after_last
    assert shared.process is None and shared.users == 0


def _ad(n: int) -> Ad:
    return Ad(id=f"demo:{n}", source="demo", url=f"http://127.0.0.1/ad/{n}", fetched_at="2026-11-28T10:00:00Z",
              title="<h1>Ny i stan</h1>", text=f"<p>Söt tjej i Gävle. Ring 070-174 06 {n:02d}</p>",
              timezone="Europe/Stockholm", images=[])


async def _pipelines_lose_the_worker(count: int) -> tuple[list[Any], MemoryStatsCollector]:
    stats = MemoryStatsCollector(get_crawler(Spider))
    normalize = NormalizePipeline(stats, worker=StageWorker("SE", stats))
    enrich = EnrichPipeline(stats, "SE", worker=StageWorker("SE", stats))
    await normalize.open_spider()
    await enrich.open_spider()

    async def one(n: int) -> Any:
        item = await asyncio.ensure_future(_awaitable(normalize.process_item(_ad(n))))
        if n == count // 2 and shared.process is not None and shared.process.pid is not None:
            os.kill(shared.process.pid, signal.SIGKILL)  # the worker dies mid-crawl
        return await asyncio.ensure_future(_awaitable(enrich.process_item(item)))

    items = [await one(n) for n in range(count)]
    await normalize.close_spider()
    await enrich.close_spider()
    return items, stats


async def _awaitable(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


def test_pipelines_read_the_ads_themselves_when_the_worker_dies(caplog: pytest.LogCaptureFixture) -> None:
    items, stats = run(lambda: _pipelines_lose_the_worker(20))
    assert [item.phones for item in items] == [[f"+467017406{n:02d}"] for n in range(20)]
    assert all(item.title == "Ny i stan" and item.town == "Gävle" for item in items)
    assert stats.get_value("adwatch/worker/lost") == 2  # seen by both pipelines
    assert stats.get_value("adwatch/enrich/ok") == 20 and not stats.get_value("adwatch/enrich/error")
    assert "the stage worker stopped" in caplog.text


def _stored(home: Path) -> list[dict[str, Any]]:
    from index.sqlite import SqliteStore

    store = SqliteStore(home / "adwatch.db")
    try:
        ads = [store.get_ad(row[0]) for row in store.db.execute("SELECT id FROM ads ORDER BY id")]
    finally:
        store.close()
    moving = ("fetched_at", "first_seen_at", "last_seen_at", "evidence")  # each crawl archives its own records
    return [{k: v for k, v in (ad or {}).items() if k not in moving} for ad in ads]


@pytest.mark.slow
def test_a_crawl_stores_the_same_ads_with_and_without_the_worker(tmp_path: Path) -> None:
    from adwatch.demo import DemoSite

    stored = []
    with DemoSite(seed=11, count=60, flaky=False) as site:
        for switch in ("1", "0"):
            home = tmp_path / switch
            runs = run_json("crawl", "--all", "--base-url", site.base_url, home=home,
                            env={"ADWATCH_STAGE_WORKER": switch})
            assert all(r["status"] == "ok" for r in runs)
            assert not any(r["stats"].get("adwatch/worker/lost") for r in runs)
            stored.append(_stored(home))
    with_worker, without = stored
    assert len(with_worker) > 40 and any(ad["phones"] for ad in with_worker)
    assert with_worker == without


async def _one_value_json_cannot_carry() -> tuple[Any, Any]:
    process = WorkerProcess("SE")
    await process.start()
    try:
        odd = process.call("normalize", {"title": "x", "posted_at": object()}, {"text": 100, "field": 100,
                                                                               "images": 1})
        good = process.call("extract", {"text": "ring 070-174 06 05"}, {"region": "SE"})
        # Bounded: before the fix the odd item's batch was never sent and both waited for ever.
        both = asyncio.gather(odd, good, return_exceptions=True)
        return tuple(await asyncio.wait_for(both, 60))  # type: ignore[return-value]
    finally:
        await process.stop()


def test_an_item_json_cannot_carry_fails_alone_and_the_batch_goes_on() -> None:
    odd, good = run(_one_value_json_cannot_carry)
    assert isinstance(odd, WorkerGone) and "cannot send this item" in str(odd)
    assert good["result"]["phones"] == ["+46701740605"]
