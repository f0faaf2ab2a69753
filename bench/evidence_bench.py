"""Archiving's cost: `adwatch crawl` with evidence (WARC) on vs off, in the same bench run.

Both crawl the same HTML sources on a fresh demo site each (same seed, so the same pages; no
503s, whose Retry-After waits would hide the crawler's own cost), turn about for a few rounds;
the figure that matters is the ratio of pages per second (issue 15's target: at least 0.85).
On a shared machine that ratio moves by ±15 % from one crawl to the next, so the bench also
gives the ratio of CPU seconds per page (the crawl and its stage worker, best round of each),
which the machine's other work hardly moves: the cost of archiving itself. Also: archive bytes
per stored ad (every page's request and response records, robots.txt and listings included,
divided by the ads the crawl stored).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from adwatch.demo import DemoSite

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["annonsguiden", "nightlist"]
TARGET_RATIO = 0.85


def _crawl(count: int, seed: int, evidence: bool) -> dict[str, float]:
    with DemoSite(seed=seed, count=count, flaky=False) as site, tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ADWATCH_HOME": home, "ADWATCH_EVIDENCE": "on" if evidence else "off"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "-m", "adwatch", "crawl", *SOURCES, "--base-url", site.base_url,
                              "--json"], env=env, cwd=ROOT, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"adwatch crawl exited {out.returncode}: {out.stderr[-2000:]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the crawl and the worker it waited for
        runs: list[dict[str, Any]] = json.loads(out.stdout)
        on_disk = sum(p.stat().st_size for p in (Path(home) / "evidence").rglob("*.warc.gz"))
    return {"pages": sum(r["pages"] for r in runs),
            "elapsed": max(r["stats"]["elapsed_time_seconds"] for r in runs),
            "cpu": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
            "ads": sum(r["new_ads"] + r["updated_ads"] for r in runs),
            "archive_bytes": on_disk,
            "records": sum(r["stats"].get("adwatch/evidence/records", 0) for r in runs)}


def run(count: int = 1000, seed: int = 7, rounds: int = 5) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    best_on = best_off = 0.0
    cpu_on = cpu_off = float("inf")
    on: dict[str, float] = {}
    off: dict[str, float] = {}
    for _ in range(rounds):  # turn about, so a slow moment of the machine falls on both
        on = _crawl(count, seed, evidence=True)
        best_on = max(best_on, on["pages"] / on["elapsed"])
        cpu_on = min(cpu_on, on["cpu"] / on["pages"])
        off = _crawl(count, seed, evidence=False)
        best_off = max(best_off, off["pages"] / off["elapsed"])
        cpu_off = min(cpu_off, off["cpu"] / off["pages"])
    return {
        "ads_on_site": count,
        "pages": on["pages"],
        "archive_on_pages_per_s": round(best_on, 1),
        "archive_off_pages_per_s": round(best_off, 1),
        "ratio": round(best_on / best_off, 2),
        "target_ratio": TARGET_RATIO,
        "cpu_ms_per_page_on": round(cpu_on * 1000, 2),
        "cpu_ms_per_page_off": round(cpu_off * 1000, 2),
        "cpu_ratio": round(cpu_off / cpu_on, 2),
        "ads_stored": int(on["ads"]),
        "records": int(on["records"]),
        "archive_bytes": int(on["archive_bytes"]),
        "archive_bytes_per_ad": round(on["archive_bytes"] / max(1, on["ads"])),
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def report(result: dict[str, Any]) -> str:
    verdict = "meets" if result["ratio"] >= result["target_ratio"] else "BELOW"
    return (
        f"evidence: archiving on {result['archive_on_pages_per_s']} pages/s · off "
        f"{result['archive_off_pages_per_s']} pages/s ({result['pages']} pages) · ratio {result['ratio']} "
        f"({verdict} target {result['target_ratio']}) · CPU per page {result['cpu_ms_per_page_on']} ms on, "
        f"{result['cpu_ms_per_page_off']} ms off (ratio {result['cpu_ratio']}) · "
        f"{result['archive_bytes_per_ad']} archive bytes per ad "
        f"({result['archive_bytes']} bytes, {result['records']} records, {result['ads_stored']} ads) · "
        f"load {result['load_1min'][0]} → {result['load_1min'][1]}"
    )


if __name__ == "__main__":
    outcome = run()
    print(report(outcome), file=sys.stderr)
    print(json.dumps(outcome))
