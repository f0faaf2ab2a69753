"""Browser sources: pages/s of the browser source against an HTML source serving the same ads,
and the crawl's memory, Chromium included, over more than 500 browser pages.

One demo world; its JavaScript site (Velvet) is built from site A's own ads, so the browser
source and the HTML source read the same ads, with the same politeness (4 requests at once,
no delay). Two conditions, in this one run:

- ``loopback``: no latency at all. Both crawls are bound by CPU only: the figure is the raw
  cost of rendering a page in Chromium against parsing it.
- ``latency_100ms`` / ``latency_200ms``: every answer of the demo server waits that long, as a
  real site's does (time to first byte over the internet is 100–500 ms; issue 17's bench uses
  200 ms): what an analyst's crawl of a real site costs with a browser against without.

Each is printed with its verdict against the target; none is hidden.

Memory: the crawl's process tree (the crawl, its stage worker, Playwright's driver,
Chromium and its renderers) sampled while it runs: its peak, and its size when the 100th
and the 500th ad page had been asked for (with browser restarts off, so a leak would show).
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

import psutil
import yaml

from adwatch.demo import DemoSite
from adwatch.demo.jssite import JsClassifieds
from spiders.browser.chromium import running_as_root

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.25
TARGET_PEAK_MIB = 1536
TARGET_GROWTH = 1.2
# Seconds per answer: none (loopback: the raw CPU cost), and two a real site answers in.
LATENCIES = {"loopback": 0.0, "latency_100ms": 0.1, "latency_200ms": 0.2}
COUNT = 820  # about 540 ads on site A, so the browser source renders more than 500 ad pages


def _sources(folder: Path) -> None:
    """The two bench sources: site A's listing without town pages, and Velvet; same politeness."""
    html = yaml.safe_load((ROOT / "config" / "sources" / "annonsguiden.yaml").read_text())
    html.update(name="bench_html", politeness={"delay": 0, "concurrency": 4, "obey_robots": True})
    html["listing"].pop("follow", None)  # the main listing only: every ad once, as on Velvet
    browser = yaml.safe_load((ROOT / "config" / "sources" / "velvet.yaml").read_text())
    browser.update(name="bench_browser", politeness={"delay": 0, "concurrency": 4, "obey_robots": True})
    # Never restarted: memory after 500 pages against after 100 shows a leak, if there is one.
    browser["browser"].update(restart_after_pages=1_000_000, memory_limit_mb=262_144, pages_per_context=4)
    for source in (html, browser):
        (folder / f"{source['name']}.yaml").write_text(yaml.safe_dump(source, allow_unicode=True))


def _tree_mib(proc: psutil.Process) -> tuple[float, float]:
    """(RSS, PSS) of a process tree in MiB. Summed RSS counts the pages Chromium's processes
    share (its code, fonts, shared memory) once per process; PSS shares them out, so its sum is
    what the tree really holds. Both are reported; the targets are judged on both."""
    rss = pss = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            info = p.memory_full_info()
        except psutil.Error:  # ended in between
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / (1024 * 1024), pss / (1024 * 1024)


def _ad_pages_asked(site: DemoSite, name: str) -> int:
    """Ad pages asked for so far, over every crawl of this world (callers subtract the start)."""
    if name == "bench_browser":  # each rendered ad asks its JSON once
        return sum(n for path, n in site.hits.items()
                   if path.startswith("/v/api/ad/") and not path.endswith("/phone"))
    return sum(n for path, n in site.hits.items() if path.startswith("/annons/ad/"))


def _crawl(site: DemoSite, name: str, sources: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryFile("w+") as out:
        env = {**os.environ, "ADWATCH_HOME": home, "ADWATCH_SOURCES_DIR": str(sources)}
        if running_as_root():  # synthetic pages on loopback only: Chromium may run unsandboxed
            env["ADWATCH_BROWSER_SANDBOX"] = "off"
        crawl = subprocess.Popen([sys.executable, "-m", "adwatch", "crawl", name, "--base-url", site.base_url,
                                  "--json"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL)
        proc = psutil.Process(crawl.pid)
        peak_rss = peak_pss = 0.0
        at: dict[int, float] = {}  # ad pages asked → PSS then
        rss_at: dict[int, float] = {}  # … and summed RSS
        asked_before = _ad_pages_asked(site, name)
        while crawl.poll() is None:
            try:
                rss, pss = _tree_mib(proc)
            except psutil.Error:
                break
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            asked = _ad_pages_asked(site, name) - asked_before
            for mark in (100, 500):
                if asked >= mark and mark not in at:
                    at[mark], rss_at[mark] = pss, rss
            time.sleep(0.2)
        if crawl.wait():
            raise RuntimeError(f"adwatch crawl {name} exited {crawl.returncode}")
        out.seek(0)
        run: dict[str, Any] = json.loads(out.read())[0]
    elapsed = run["stats"]["elapsed_time_seconds"]
    return {"pages": run["pages"], "ads": run["new_ads"], "pages_per_s": round(run["pages"] / elapsed, 2),
            "peak_rss_mib": round(peak_rss), "peak_pss_mib": round(peak_pss),
            "pss_mib_at_100": round(at.get(100, 0)), "pss_mib_at_500": round(at.get(500, 0)),
            "rss_mib_at_100": round(rss_at.get(100, 0)), "rss_mib_at_500": round(rss_at.get(500, 0)),
            "status": run["status"]}


def run(count: int = COUNT, seed: int = 7) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, DemoSite(seed=seed, count=count, flaky=False) as site:
        _sources(Path(folder))
        site.js = JsClassifieds(site, seed=seed, source=site.ads_a)  # the same ads as site A
        site.js.slow_delay = 0.0  # the latency below is the same for every page of both sources
        for condition, latency in LATENCIES.items():
            site.latency = latency
            html = _crawl(site, "bench_html", Path(folder))
            browser = _crawl(site, "bench_browser", Path(folder))
            results[condition] = {"latency_s": latency, "html": html, "browser": browser,
                                  "ratio": round(browser["pages_per_s"] / html["pages_per_s"], 3)}
    browsers = [results[condition]["browser"] for condition in LATENCIES]
    growths = [b[f"{kind}_mib_at_500"] / b[f"{kind}_mib_at_100"] for b in browsers for kind in ("pss", "rss")
               if b[f"{kind}_mib_at_100"] and b[f"{kind}_mib_at_500"]]
    return {**results, "ads_on_site": count, "target_ratio": TARGET_RATIO,
            "peak_rss_mib": max(b["peak_rss_mib"] for b in browsers),
            "peak_pss_mib": max(b["peak_pss_mib"] for b in browsers),
            "target_peak_mib": TARGET_PEAK_MIB, "growth_500_vs_100": round(max(growths, default=0.0), 2),
            "target_growth": TARGET_GROWTH,
            "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def report(result: dict[str, Any]) -> str:
    lines = []
    for condition in LATENCIES:
        r = result[condition]
        verdict = "meets" if r["ratio"] >= result["target_ratio"] else "BELOW"
        lines.append(
            f"browser, {r['latency_s'] * 1000:.0f} ms per answer: browser source {r['browser']['pages_per_s']} "
            f"pages/s ({r['browser']['pages']} pages) · HTML source {r['html']['pages_per_s']} pages/s "
            f"({r['html']['pages']} pages), same ads · ratio {r['ratio']} ({verdict} {result['target_ratio']})")
    growth_ok = 0 < result["growth_500_vs_100"] <= result["target_growth"]
    lines.append(
        f"browser memory (crawl + stage worker + Playwright + Chromium): peak PSS {result['peak_pss_mib']} MiB "
        f"({'meets' if result['peak_pss_mib'] <= result['target_peak_mib'] else 'ABOVE'} {result['target_peak_mib']}), "
        f"peak summed RSS {result['peak_rss_mib']} MiB "
        f"({'meets' if result['peak_rss_mib'] <= result['target_peak_mib'] else 'ABOVE'}) · "
        f"after 500 ad pages ×{result['growth_500_vs_100']} of after 100 (PSS and RSS, worst run) "
        f"({'meets' if growth_ok else 'ABOVE'} ×{result['target_growth']}) · "
        f"load {result['load_1min'][0]} → {result['load_1min'][1]}")
    return "\n".join(lines)


if __name__ == "__main__":
    outcome = run()
    print(report(outcome), file=sys.stderr)
    print(json.dumps(outcome))
