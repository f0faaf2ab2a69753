"""The ``adwatch`` command line."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from adwatch.alerts_cmd import alerts_app
from adwatch.audit_cmd import audit_app
from adwatch.evidence_cmd import evidence_app
from adwatch.highways_cmd import highways_app
from adwatch.hold_cmd import hold_app
from adwatch.index_cmd import index_app
from adwatch.lookup import EARTH_HALF_KM, SQLITE_INT_MAX, within
from adwatch.output import (
    ads_table,
    cell,
    counts_table,
    err,
    fail,
    json_text,
    markup,
    out,
    print_json,
    runs_table,
    source_health,
    visible,
)
from adwatch.purge_cmd import purge
from adwatch.schedule_cmd import schedule_app
from adwatch.serve_cmd import serve
from adwatch.settings import load_settings, override_for_this_run
from adwatch.store_access import open_store_or_exit as _open_store
from adwatch.trends_cmd import trends
from adwatch.users_cmd import users_app

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Watch online ads for signs of exploitation and trafficking.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
sources_app = typer.Typer(help="Declarative source files (config/sources/*.yaml).", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(index_app, name="index")
app.command("trends")(trends)
app.add_typer(schedule_app, name="schedule")
app.add_typer(highways_app, name="highways")
app.add_typer(alerts_app, name="alerts")
app.command("serve")(serve)
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(evidence_app, name="evidence")
app.add_typer(hold_app, name="hold")
app.command("purge")(purge)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, on stdout.")]
StoreOpt = Annotated[str | None, typer.Option(
    "--store", help="sqlite, es, sqlite:///PATH or elasticsearch+http://HOST:PORT (default: ADWATCH_STORE).")]


@app.callback()
def options(store: StoreOpt = None) -> None:
    """Watch online ads for signs of exploitation and trafficking."""
    if store:
        override_for_this_run("ADWATCH_STORE", store)
    pretend = load_settings().get("ADWATCH_NOW")
    if pretend:
        from adwatch.core.clock import parse_since, set_now

        try:
            set_now(parse_since(str(pretend)))
        except ValueError as exc:
            fail(f"ADWATCH_NOW: {exc}")
            raise typer.Exit(2) from None


@sources_app.command("list")
def sources_list(as_json: JsonOpt = False) -> None:
    """List the configured sources."""
    from config.source_schema import load_sources

    settings = load_settings()
    sources, problems = load_sources(settings.get("ADWATCH_SOURCES_DIR"))
    for problem in problems:
        fail(str(problem))
    rows: list[dict[str, Any]] = [{"name": s.name, "kind": s.kind, "enabled": s.enabled,
                                   "start_urls": s.start_urls, "description": s.description}
                                  for s in sources.values()]
    if as_json:
        print_json(rows)
    else:
        from rich.table import Table

        table = Table(title="sources", title_justify="left")
        for name in ("name", "kind", "enabled", "start URL", "description"):
            table.add_column(name)
        for row in rows:
            table.add_row(cell(row["name"]), cell(row["kind"]), "yes" if row["enabled"] else "no",
                          cell(row["start_urls"][0]), cell(row["description"]))
        out.print(table)
    if problems:
        raise typer.Exit(1)


@sources_app.command("validate")
def sources_validate(
    files: Annotated[list[str] | None, typer.Argument(help="Source files (default: every configured one).")] = None,
) -> None:
    """Check source files; one line per problem (file: field: reason), exit 1 if any."""
    from config.source_schema import load_sources, parse_source

    if files:
        problems = [p for f in files for p in parse_source(Path(f))[1]]
        count = len(files)
    else:
        sources, problems = load_sources(load_settings().get("ADWATCH_SOURCES_DIR"))
        count = len(sources) + len({p.file for p in problems})
    for problem in problems:
        fail(str(problem))
    if problems:
        raise typer.Exit(1)
    err.print(f"{count} source file(s) valid")


@app.command()
def crawl(
    sources: Annotated[list[str] | None, typer.Argument(help="Source names.")] = None,
    all_sources: Annotated[bool, typer.Option("--all", help="Crawl every enabled source.")] = False,
    base_url: Annotated[str | None, typer.Option(help="Crawl the source(s) on another host, e.g. a mirror.")] = None,
    refresh: Annotated[bool, typer.Option(help="Fetch ads again even if indexed.")] = False,
    log_level: Annotated[str, typer.Option(help="Scrapy log level on stderr.")] = "WARNING",
    overrides: Annotated[list[str] | None, typer.Option("--set", "-s", help="NAME=VALUE: override a setting.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Crawl sources into the index."""
    if store:
        override_for_this_run("ADWATCH_STORE", store)
    from adwatch.crawling import run_crawls
    from config.source_schema import load_sources

    pairs = [item.partition("=") for item in overrides or []]
    if any(not name or not sep for name, sep, _ in pairs):
        fail("--set takes NAME=VALUE")
        raise typer.Exit(2)
    settings = load_settings({"LOG_LEVEL": log_level.upper(), **{name: value for name, _, value in pairs}})
    known, problems = load_sources(settings.get("ADWATCH_SOURCES_DIR"))
    for problem in problems:
        fail(f"skipped: {problem}")
    # A source named on the command line whose file is broken is a crawl that could not start.
    broken = {Path(p.file).stem: f"{p.field}: {p.reason}" for p in problems}
    names = [n for n, s in known.items() if s.enabled] if all_sources else list(sources or [])
    unknown = [n for n in names if n not in known and n not in broken]
    if not names or unknown:
        fail(f"unknown source(s): {', '.join(unknown)}" if unknown else "name a source or use --all")
        raise typer.Exit(2)
    from adwatch.crawl_lock import SourceBusy, is_locked
    from adwatch.crawling import record_not_started
    from index.open import check_data_folder

    check_data_folder(settings.get("ADWATCH_HOME"))  # a file, or unwritable: one line, before the locks
    # One crawl per source at a time: each crawl takes its source's lock (the SourceLock
    # extension); asking first refuses the whole command before any source is crawled.
    busy = [name for name in names if is_locked(settings.get("ADWATCH_HOME"), name)]
    try:
        if busy:
            raise SourceBusy.of(busy)
        startable = [n for n in names if n not in broken]
        runs = run_crawls(settings, startable, base_url=base_url, refresh=refresh) if startable else []
        runs += record_not_started(settings, {n: f"source file: {broken[n]}" for n in names if n in broken})
    except SourceBusy as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    if as_json:
        print_json(runs)
    else:
        out.print(runs_table(runs))
    if any(run["status"] != "ok" for run in runs) or len(runs) < len(names):
        raise typer.Exit(1)


@app.command(epilog="A query that starts with a minus goes after --, as any argument that could be read as an "
                     "option: adwatch search -- -massage")
def search(
    query: Annotated[str, typer.Argument(
        help='Words, "phrases", OR, -exclude, prefix*. Starting with -? Put -- first: search -- "-massage".')] = "",
    phone: Annotated[str | None, typer.Option(help="A phone number in any format.")] = None,
    town: Annotated[list[str] | None, typer.Option(help="Town (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="7d, 24h, 2w or a date.")] = None,
    until: Annotated[str | None, typer.Option(help="A date.")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Source (repeatable).")] = None,
    near: Annotated[str | None, typer.Option(help="LAT,LON or a town: ads whose town lies within --km.")] = None,
    km: Annotated[float, typer.Option(callback=within(0.1, EARTH_HALF_KM), help="Radius for --near, in km.")] = 25.0,
    category: Annotated[list[str] | None, typer.Option(help="Indicator category (repeatable: any of them).")] = None,
    min_score: Annotated[float | None, typer.Option(callback=within(0.0, 1e6), help="Indicator score at least this.")]
    = None,
    sort: Annotated[str | None, typer.Option(help="relevance, newest or score (indicator score).")] = None,
    limit: Annotated[int, typer.Option(callback=within(1, 1000), help="Ads shown (1 to 1000).")] = 20,
    offset: Annotated[int, typer.Option(callback=within(0, SQLITE_INT_MAX), help="Ads skipped first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Search the index."""
    from adwatch.lookup import build_query

    settings = load_settings()
    try:
        q = build_query(query, phone=phone, towns=town or [], since=since, until=until, sources=source or [],
                        sort=sort, limit=limit, offset=offset, near=near, km=km, categories=category or [],
                        min_score=min_score, region=settings.get("ADWATCH_DEFAULT_REGION"),
                        max_chars=settings.getint("ADWATCH_SEARCH_MAX_CHARS"),
                        max_terms=settings.getint("ADWATCH_SEARCH_MAX_TERMS"))
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
    store = _open_store()
    try:
        result = store.search(q)
    except ValueError as exc:  # what only the store can say: Elasticsearch's result window, say
        fail(str(exc))
        raise typer.Exit(2) from None
    finally:
        store.close()
    if result.total == 0 and q.sources:
        _say_unknown_sources(q.sources, settings)
    if as_json:
        print_json({"total": result.total, "hits": result.hits, "facets": result.facets})
        return
    out.print(ads_table(result.hits, title=f"{result.total} ads (showing {len(result.hits)} from {offset})"))
    if result.facets.get("town"):
        out.print(counts_table("by town", dict(list(result.facets["town"].items())[:10]), "town"))


def _say_unknown_sources(names: list[str], settings: Any) -> None:
    """No hits and a --source no source file declares: say so (stderr, one line), since a typo
    there looks just like "no ads". Not an error: a removed source's ads stay searchable."""
    from config.source_schema import load_sources

    known, _ = load_sources(settings.get("ADWATCH_SOURCES_DIR"))
    unknown = [name for name in names if name not in known]
    if unknown:
        err.print(markup(f"note: no source file declares {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(sorted(known)) or 'none'})"), soft_wrap=True)


@app.command()
def show(ad_id: str, as_json: JsonOpt = False) -> None:
    """Show one ad with everything adwatch knows about it."""
    store = _open_store()
    ad = store.get_ad(ad_id)
    versions = store.ad_versions(ad_id) if ad else []
    store.close()
    if ad is None:
        fail(f"no ad {ad_id!r}")
        raise typer.Exit(1)
    if as_json:
        print_json(ad | {"versions": versions})
        return
    for key in ("id", "source", "url", "title", "posted_at", "first_seen_at", "last_seen_at", "removed_at",
                "town", "county", "road", "road_km", "poster", "age", "price", "currency", "language", "version"):
        # One line per field: a newline in a stored value is shown as \n, not obeyed.
        out.print(f"[bold]{key:>14}[/bold]  {markup(visible(ad.get(key) if ad.get(key) is not None else '', False))}")
    for detail in ad.get("phone_details") or []:
        out.print(f"[bold]{'phone':>14}[/bold]  {markup(detail['e164'])}  "
                  f"({markup(detail['line_type'])}, written {markup(repr(detail['raw']))})")
    towns = ", ".join(f"{t['name']} ({t['found_in']})" for t in ad.get("towns") or [])
    out.print(f"[bold]{'towns':>14}[/bold]  {markup(visible(towns, False))}")
    for contact in ad.get("contacts") or []:
        said = visible(f"{contact['type']}: {contact['value']}", False)
        out.print(f"[bold]{'contact':>14}[/bold]  {markup(said)}")
    out.print(f"[bold]{'indicators':>14}[/bold]  score {markup(ad.get('indicator_score', 0))}")
    for hit in ad.get("indicators") or []:
        out.print(visible(f"{'':>16}{hit['category']}: {hit['phrase']!r} ({hit['rule']})", False), markup=False)
    out.print()
    out.print(visible(ad.get("text") or ""), markup=False)  # the body keeps its line breaks


@app.command()
def phones(phone: str, as_json: JsonOpt = False) -> None:
    """Every ad, town and date for one phone number."""
    from nlp.phones import normalize_phone

    settings = load_settings()
    e164 = normalize_phone(phone, settings.get("ADWATCH_DEFAULT_REGION"))
    if e164 is None:
        fail(f"not a valid phone number: {phone!r}")
        raise typer.Exit(2)
    store = _open_store()
    record = store.phone_record(e164)
    ads = store.phone_ads(e164)
    store.close()
    if as_json:
        print_json({"phone": e164, "registry": record, "ads": ads})
        return
    if record is None:
        err.print(f"{e164}: never seen")
        raise typer.Exit(1)
    line = (f"{record['ads_count']} ads, first seen {record['first_seen_at']} in {record['first_town'] or '?'}, "
            f"last seen {record['last_seen_at']}; towns: {', '.join(record['towns'])}")
    out.print(f"[bold]{markup(e164)}[/bold]: {markup(visible(line, False))}")
    out.print(ads_table(ads))


@app.command()
def stats(as_json: JsonOpt = False) -> None:
    """What the index holds: ads, phones, towns, sources."""
    store = _open_store()
    summary = store.summary()
    store.close()
    if as_json:
        print_json(summary)
        return
    from adwatch.report import print_summary

    print_summary(summary)


@app.command()
def runs(source: Annotated[str | None, typer.Option()] = None,
         limit: Annotated[int, typer.Option(callback=within(1, 10_000), help="Runs shown (1 to 10000).")] = 20,
         as_json: JsonOpt = False) -> None:
    """Recent crawl runs."""
    store = _open_store()
    rows = store.runs(source, limit)
    health = {name: source_health(store.runs(name, limit=20)) for name in sorted({r["source"] for r in rows})}
    store.close()
    if as_json:
        print_json(rows)
        return
    out.print(runs_table(rows))
    for name, line in health.items():
        out.print(visible(f"{name}: {line}", False), markup=False)


@app.command("extract")
def extract_cmd() -> None:
    """JSON lines on stdin → one JSON line of facts per ad on stdout (see docs/ARCHITECTURE.md)."""
    from adwatch.extract_cmd import BATCH_SIZE, extract_lines

    region = load_settings().get("ADWATCH_DEFAULT_REGION")
    # A file is read in batches (nlp.pipe); a pipe or terminal is answered line by line, so a
    # tool that writes one ad and waits for its facts never hangs.
    batch = BATCH_SIZE if stat.S_ISREG(os.fstat(sys.stdin.fileno()).st_mode) else 1
    for result in extract_lines(sys.stdin, region, batch):
        sys.stdout.write(json_text(result) + "\n")
        sys.stdout.flush()


@app.command("eval")
def eval_cmd(
    file: Annotated[str, typer.Argument(help="Labelled JSON lines (input fields plus gold answers).")],
    check: Annotated[bool, typer.Option(help="Exit 1 when a target is not met.")] = False,
    errors: Annotated[int, typer.Option(callback=within(0, 1_000_000),
                                        help="Print up to N ads that differ from gold (stderr).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Precision / recall / F1 of the NLP stage for phones, towns and each indicator category."""
    from nlp.evaluate import TARGETS, evaluate

    try:
        result = evaluate(Path(file), load_settings().get("ADWATCH_DEFAULT_REGION"))
    except (OSError, ValueError) as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
    report = result.report()
    below = result.below_targets()
    if as_json:
        print_json(report | {"targets": TARGETS, "below_targets": below})
    else:
        from adwatch.report import print_eval

        print_eval(report, below)
    for diff in result.errors[:errors]:
        err.print(visible(f"{diff['id']} {diff['kind']}: missed {diff['missed']} extra {diff['extra']}", False),
                  markup=False)
    if check and below:
        raise typer.Exit(1)


@app.command("demo-site")
def demo_site(port: Annotated[int, typer.Option(callback=within(0, 65535), help="0 picks a free port.")] = 8765,
              seed: Annotated[int, typer.Option()] = 7) -> None:
    """Serve the synthetic demo site on 127.0.0.1 until Ctrl-C."""
    from adwatch.demo.server import DemoSite

    site = DemoSite(seed=seed)
    url = site.start(port=port)
    err.print(f"demo site on {url} ({len(site.ads)} synthetic ads); Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()


@app.command()
def demo(serve: Annotated[bool, typer.Option(help="Serve the web UI on the demo data when done (Ctrl-C stops it).")]
         = True,
         port: Annotated[int, typer.Option(callback=within(0, 65535), help="Demo site port; 0 picks a free one.")] = 0,
         seed: Annotated[int, typer.Option()] = 7) -> None:
    """The whole pipeline on the bundled demo site: crawl, enrich, index, summary, searches."""
    from adwatch.demo_run import run_demo

    raise typer.Exit(run_demo(port=port, seed=seed, serve=serve))


def main() -> None:
    import sqlite3

    from adwatch.core.private import private_umask
    from config.environment import SettingError
    from index.open import StoreConfigError
    from index.store import StoreUnavailable
    from index.writer import NotStored

    private_umask()  # everything adwatch creates (data, spool, locks, logs) is 0600 / 0700
    try:
        app()
    except StoreUnavailable as exc:
        fail(f"store unavailable: {exc}")
        sys.exit(3)
    except (StoreConfigError, SettingError) as exc:
        fail(str(exc))
        sys.exit(2)
    except NotStored as exc:
        fail(str(exc))
        sys.exit(1)
    except sqlite3.DatabaseError as exc:  # damage found while rows were being read
        fail(f"the SQLite database is damaged ({exc}): run 'adwatch index check', then restore it from a "
             "backup or move it aside")
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
