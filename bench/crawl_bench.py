"""Crawl throughput: `adwatch crawl` with every pipeline on vs a bare Scrapy spider.

Both crawl the same sources on a fresh demo site each (same seed, so the same pages
and 404s; no 503s, whose Retry-After waits would hide the crawler's own cost), in this
one bench run; the figure that matters is the ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from adwatch.demo import DemoSite

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["annonsguiden", "nightlist"]
TARGET_RATIO = 0.6


def _rss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone already
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0.0)


def _tree_rss_mib(pid: int) -> float:
    """The crawl process and its children (the stage worker): what the crawl costs in memory."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return _rss_mib(pid) + sum(_rss_mib(int(child)) for child in children)


def _adwatch_crawl(count: int, seed: int) -> tuple[int, float, float]:
    with DemoSite(seed=seed, count=count, flaky=False) as site, tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ADWATCH_HOME": home}
        with tempfile.TemporaryFile("w+") as out, subprocess.Popen(
                [sys.executable, "-m", "adwatch", "crawl", *SOURCES, "--base-url", site.base_url, "--json"],
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL, text=True) as crawl:
            peak = 0.0
            while crawl.poll() is None:
                peak = max(peak, _tree_rss_mib(crawl.pid))
                time.sleep(0.05)
            if crawl.returncode:
                raise RuntimeError(f"adwatch crawl exited {crawl.returncode}")
            out.seek(0)
            runs: list[dict[str, Any]] = json.loads(out.read())
    return sum(r["pages"] for r in runs), max(r["stats"]["elapsed_time_seconds"] for r in runs), peak


def _bare_crawl(count: int, seed: int) -> tuple[int, float]:
    with DemoSite(seed=seed, count=count, flaky=False) as site:
        out = subprocess.run([sys.executable, "-m", "bench.bare", site.base_url, *SOURCES], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        stats: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    return sum(s["pages"] for s in stats), max(s["elapsed"] for s in stats)


def run(count: int = 1000, seed: int = 7, rounds: int = 3) -> dict[str, Any]:
    load_before = os.getloadavg()[0]  # a shared machine: the figures mean little without it
    best_full = best_bare = peak_full = 0.0
    pages_full = pages_bare = 0
    for _ in range(rounds):  # turn about, so a slow moment of the machine falls on both
        pages_full, elapsed, peak = _adwatch_crawl(count, seed)
        best_full = max(best_full, pages_full / elapsed)
        peak_full = max(peak_full, peak)
        pages_bare, elapsed = _bare_crawl(count, seed)
        best_bare = max(best_bare, pages_bare / elapsed)
    return {
        "ads_on_site": count,
        "adwatch_pages": pages_full,
        "bare_pages": pages_bare,
        "adwatch_pages_per_s": round(best_full, 1),
        "bare_pages_per_s": round(best_bare, 1),
        "ratio": round(best_full / best_bare, 2),
        "target_ratio": TARGET_RATIO,
        "peak_rss_mib_adwatch_crawl": round(peak_full, 1),
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def report(result: dict[str, Any]) -> str:
    verdict = "meets" if result["ratio"] >= result["target_ratio"] else "BELOW"
    return (
        f"crawl: adwatch {result['adwatch_pages_per_s']} pages/s ({result['adwatch_pages']} pages) · "
        f"bare Scrapy {result['bare_pages_per_s']} pages/s ({result['bare_pages']} pages) · "
        f"ratio {result['ratio']} ({verdict} target {result['target_ratio']}) · "
        f"peak RSS {result['peak_rss_mib_adwatch_crawl']} MiB (crawl + stage worker) · "
        f"load {result['load_1min'][0]} → {result['load_1min'][1]}"
    )
