"""``adwatch demo``: serve the demo site, crawl every source from it, then show what was found."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from adwatch.output import ads_table, err, out
from adwatch.report import print_summary
from adwatch.settings import load_settings
from index.store import Store

if TYPE_CHECKING:
    from scrapy.settings import Settings

DEFAULT_PORT = 8765
# The first crawl sees the site as it was this many days ago (the baseline); the second
# sees today's, so the numbers of the last days are new to the index and raise alerts.
BASELINE_DAYS_AGO = 4


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _examples(store: Store, region: str) -> None:
    from adwatch.lookup import build_query

    summary = store.summary()
    top_town = next(iter(summary["top_towns"]), None)
    searches: list[tuple[str, dict[str, object]]] = [
        ('search \'"ny i stan"\'', {"text": '"ny i stan"'}),
        ("search 'massage -thai'", {"text": "massage -thai"}),
    ]
    if top_town:
        searches.append((f"search --town {top_town} --since 30d", {"towns": [top_town], "since": "30d"}))
    for label, kwargs in searches:
        query = build_query(limit=5, region=region, **kwargs)  # type: ignore[arg-type]
        result = store.search(query)
        out.print(ads_table(result.hits, title=f"adwatch {label} → {result.total} ads"))
    top = store.search(build_query(sort="score", limit=1, region=region)).hits
    for ad in top:
        out.print(f"[bold]Highest indicator score:[/bold] {ad['id']} ({ad.get('town') or '?'}), score "
                  f"{ad['indicator_score']:g} — adwatch show {ad['id']}")
        for detail in ad.get("phone_details") or []:
            written = "obfuscated" if detail["obfuscated"] else "plain"
            out.print(f"  phone {detail['e164']} written {written}: {detail['raw']!r}", markup=False)
        for hit in ad.get("indicators") or []:
            out.print(f"  {hit['category']}: {hit['phrase']!r} ({hit['rule']})", markup=False)
    for phone in summary["top_phones"][:1]:
        ads = store.phone_ads(phone["e164"])
        out.print(ads_table(ads, title=f"adwatch phones {phone['e164']} → {phone['ads']} ads in "
                            f"{', '.join(phone['towns'])}"))


def _by_kind(store: Store, kinds: dict[str, str]) -> None:
    """Ads per source kind (html, browser, feed): what each kind of source brought in."""
    from collections import Counter

    per_kind: Counter[str] = Counter()
    for source, count in store.summary()["sources"].items():
        per_kind[kinds.get(source, "?")] += count
    out.print("[bold]Ads by source kind:[/bold] " + " · ".join(
        f"{kind} {per_kind.get(kind, 0)}" for kind in ("html", "browser", "feed")))


def _across_kinds(store: Store, kinds: dict[str, str], region: str) -> None:
    """A number found both on a classifieds site and in a social channel: the phone pivot
    follows it across the two worlds (found in the store, not taken from the demo's truth)."""
    from adwatch.lookup import build_query

    feeds = [name for name, kind in kinds.items() if kind == "feed"]
    if not feeds:
        return
    posts = store.search(build_query(sources=feeds, limit=500, region=region)).hits
    for e164 in dict.fromkeys(p for post in posts for p in post.get("phones") or []):
        ads = store.phone_ads(e164)
        where = {kinds.get(ad["source"]) for ad in ads}
        if "feed" in where and where & {"html", "browser"}:
            sources = sorted({ad["source"] for ad in ads})
            out.print(ads_table(ads, title=f"adwatch phones {e164} → {len(ads)} ads on a site and in a "
                                f"channel: {', '.join(sources)}"))
            return
    out.print("no number was found both on a site and in a channel")


def _trends(store: Store, settings: Settings) -> None:
    """Ads per week by town over the demo's weeks, as a table and a chart."""
    from pathlib import Path

    from adwatch.trends_cmd import build_trend_query, plot, table
    from index.trends import shape

    query = build_trend_query("ads", "town", "week", "60d", None, [], settings.get("ADWATCH_DEFAULT_REGION"))
    trend = shape(query, store.trend_counts(query), top=10)
    out.print(table(trend))
    chart = Path(str(settings.get("ADWATCH_HOME"))) / "trends-ads-by-town.png"
    out.print(f"adwatch trends --by town --interval week --since 60d --plot {chart} → chart written")
    plot(trend, chart)


def _crawl_in_subprocess(settings: Settings, base_url: str) -> list[dict[str, Any]]:
    import json
    import subprocess
    import sys

    command = [sys.executable, "-m", "adwatch", "--store", str(settings.get("ADWATCH_STORE")), "crawl", "--all",
               "--base-url", base_url, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        err.print(done.stderr.strip())
    try:
        return list(json.loads(done.stdout or "[]"))
    except ValueError:
        return []


def _alerts(store: Store, settings: Settings) -> None:
    """The alerts the two crawls raised, per rule, and where they were delivered."""
    from collections import Counter

    from adwatch.alerts_cmd import alerts_table

    raised = store.alerts(limit=10_000)
    per_rule = Counter(alert["rule"] for alert in raised)
    out.print(f"[bold]Alerts raised:[/bold] {len(raised)} — "
              + ", ".join(f"{rule}: {n}" for rule, n in sorted(per_rule.items())))
    shown = [next(a for a in raised if a["rule"] == rule) for rule in sorted(per_rule)]
    shown += [a for a in raised if a not in shown][: max(0, 8 - len(shown))]
    out.print(alerts_table(shown, title="adwatch alerts list (one of each rule first)"))
    home = settings.get("ADWATCH_HOME")
    out.print(f"delivered to the log and to {home}/alerts.jsonl; 'adwatch alerts ack ID' marks one seen")


def demo_logins(settings: Settings) -> dict[str, str]:
    """An analyst and an admin for the demo, each with a fresh random password (printed once)."""
    import secrets

    from adwatch.web.accounts import Accounts

    logins: dict[str, str] = {}
    with Accounts.from_settings(settings) as accounts:
        for name, role in (("demo", "analyst"), ("demo-admin", "admin")):
            password = secrets.token_urlsafe(12)
            if accounts.get_user(name) is None:
                accounts.add_user(name, role, password)
            else:
                accounts.enable(name)
                accounts.set_password(name, password)
            logins[name] = password
    return logins


def _serve_ui(settings: Settings, site_url: str) -> None:
    """The web UI on the demo data until Ctrl-C (the demo site keeps running for the ads' links)."""
    from adwatch.serve_cmd import build_app, run_server

    if not _port_free(int(settings.getint("ADWATCH_WEB_PORT"))):
        settings.set("ADWATCH_WEB_PORT", _free_port(), priority="cmdline")
    app, config = build_app(settings)
    logins = demo_logins(settings)
    out.print(f"\n[bold]The web UI:[/bold] {config.base_url}  (API {config.base_url}/api/v1)")
    for name, password in logins.items():
        out.print(f"  log in as [bold]{name}[/bold] / {password}", highlight=False)
    err.print(f"demo site still on {site_url}; Ctrl-C stops both", markup=False)
    run_server(app, config)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(port: int = 0, seed: int = 7, serve: bool = True) -> int:
    from adwatch.crawling import run_crawls
    from adwatch.demo.server import DemoSite
    from config.source_schema import load_sources
    from index.open import open_store, store_config

    settings = load_settings({"LOG_LEVEL": "WARNING"})
    site = DemoSite(seed=seed)
    chosen = port or (DEFAULT_PORT if _port_free(DEFAULT_PORT) else 0)
    base_url = site.start(port=chosen)
    err.print(f"demo site on {base_url} ({len(site.ads)} synthetic ads)")
    sources, _ = load_sources(settings.get("ADWATCH_SOURCES_DIR"))
    names = [name for name, source in sources.items() if source.enabled]
    kinds: dict[str, str] = {name: source.kind for name, source in sources.items()}
    site.show_until(site.anchor - timedelta(days=BASELINE_DAYS_AGO))
    err.print(f"crawling {', '.join(names)} as the site was {BASELINE_DAYS_AGO} days ago (the baseline) …")
    started = time.monotonic()
    runs = _crawl_in_subprocess(settings, base_url)  # Scrapy's reactor runs once per process
    err.print(f"baseline crawled in {time.monotonic() - started:.1f} s")
    site.show_until(None)
    err.print(f"crawling {', '.join(names)} again, today: new ads, new numbers, alerts …")
    runs = run_crawls(settings, names, base_url=base_url) + runs
    err.print(f"crawled in {time.monotonic() - started:.1f} s")
    from adwatch.output import runs_table

    out.print(runs_table(runs))
    store = open_store(store_config(settings), readonly=True)
    try:
        print_summary(store.summary())
        _by_kind(store, kinds)
        _examples(store, settings.get("ADWATCH_DEFAULT_REGION"))
        _across_kinds(store, kinds, settings.get("ADWATCH_DEFAULT_REGION"))
        _trends(store, settings)
        _alerts(store, settings)
    finally:
        store.close()
    failed = [run for run in runs if run["status"] != "ok"]
    if serve:
        _serve_ui(settings, base_url)
    site.stop()
    return 1 if failed else 0
