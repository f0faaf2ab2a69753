"""``adwatch demo``: serve the demo site, crawl every source from it, then show what was found."""

from __future__ import annotations

import socket
import time

from adwatch.output import ads_table, err, out
from adwatch.report import print_summary
from adwatch.settings import load_settings
from index.store import Store

DEFAULT_PORT = 8765


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _examples(store: Store) -> None:
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
        query = build_query(limit=5, **kwargs)  # type: ignore[arg-type]
        result = store.search(query)
        out.print(ads_table(result.hits, title=f"adwatch {label} → {result.total} ads"))
    top = store.search(build_query(sort="score", limit=1)).hits
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


def _trends(store: Store, settings: object) -> None:
    """Ads per week by town over the demo's weeks, as a table and a chart."""
    from pathlib import Path

    from adwatch.trends_cmd import build_trend_query, plot, table
    from index.trends import shape

    query = build_trend_query("ads", "town", "week", "60d", None, [])
    trend = shape(query, store.trend_counts(query), top=10)
    out.print(table(trend))
    chart = Path(str(settings.get("ADWATCH_HOME") or "data")) / "trends-ads-by-town.png"  # type: ignore[attr-defined]
    out.print(f"adwatch trends --by town --interval week --since 60d --plot {chart} → chart written")
    plot(trend, chart)


def run_demo(port: int = 0, seed: int = 7, serve: bool = True) -> int:
    from adwatch.crawling import run_crawls
    from adwatch.demo.server import DemoSite
    from config.source_schema import load_sources
    from index import open_store

    settings = load_settings({"LOG_LEVEL": "WARNING"})
    site = DemoSite(seed=seed)
    chosen = port or (DEFAULT_PORT if _port_free(DEFAULT_PORT) else 0)
    base_url = site.start(port=chosen)
    err.print(f"demo site on {base_url} ({len(site.ads)} synthetic ads)")
    sources, _ = load_sources(settings.get("ADWATCH_SOURCES_DIR"))
    names = [name for name, source in sources.items() if source.enabled]
    err.print(f"crawling {', '.join(names)} …")
    started = time.monotonic()
    runs = run_crawls(settings, names, base_url=base_url)
    err.print(f"crawled in {time.monotonic() - started:.1f} s")
    from adwatch.output import runs_table

    out.print(runs_table(runs))
    store = open_store(settings, readonly=True)
    try:
        print_summary(store.summary())
        _examples(store)
        _trends(store, settings)
    finally:
        store.close()
    failed = [run for run in runs if run["status"] != "ok"]
    if serve:
        err.print(f"demo site still on {base_url}; try 'adwatch search …' in another shell. Ctrl-C stops it.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    site.stop()
    return 1 if failed else 0
