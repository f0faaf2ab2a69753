"""``adwatch trends``: time series per town or county, as a table, CSV, JSON or a chart."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from adwatch.lookup import within
from adwatch.output import cell, err, fail, json_text, markup, out, visible
from adwatch.settings import load_settings, load_store_config
from index.trends import BYS, INTERVALS, METRICS, Trend, TrendQuery, shape

_SHOWN_PERIODS = 8  # a table shows the latest periods; CSV, JSON and charts show them all


def build_trend_query(metric: str, by: str, interval: str, since: str | None, until: str | None,
                      towns: list[str], region: str) -> TrendQuery:
    """``region`` (ADWATCH_DEFAULT_REGION): the country whose gazetteer names the towns."""
    from adwatch.lookup import canonical_county, canonical_town, moment
    from nlp.indicators import indicator_matcher

    for name, value, allowed in (("--metric", metric, METRICS), ("--by", by, BYS), ("--interval", interval, INTERVALS)):
        if value not in allowed:
            raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    # An unknown name is an error (with near matches), not a series that silently never appears.
    canonical = canonical_town if by == "town" else canonical_county
    keys = tuple(canonical(t, region) for t in towns)
    start = moment("--since", since) if since else None
    end = moment("--until", until) if until else None
    _check_span(start, end, interval)
    return TrendQuery(metric=metric, by=by, interval=interval,  # type: ignore[arg-type]
                      since=start, until=end,
                      keys=keys, flag_threshold=indicator_matcher().flag_threshold)


# Every series holds one value per period for every town: `--since 0001-01-01 --interval day`
# asked for 739,000 periods per town (gigabytes). More periods than this are refused.
MAX_PERIODS = 10_000
_DAYS_PER = {"day": 1.0, "week": 7.0, "month": 30.44}


def _check_span(since: Any, until: Any, interval: str) -> None:
    from adwatch.core.clock import utcnow

    if since is None:
        return  # from the first count on: as many periods as the data has
    days = ((until or utcnow()) - since).total_seconds() / 86400
    count = int(days / _DAYS_PER.get(interval, 1.0)) + 1
    if count > MAX_PERIODS:
        raise ValueError(f"--since: {count:,} {interval} periods asked for; at most {MAX_PERIODS:,}: "
                         "give a later --since, an earlier --until or a longer --interval")


def _change(series: Any) -> str:
    pct = f" ({series.change_pct:+.0f}%)" if series.change_pct is not None else ""
    return f"{series.change:+d}{pct}"


def table(trend: Trend) -> Any:
    from rich.table import Table

    q = trend.query
    shown = trend.periods[-_SHOWN_PERIODS:]
    title = (f"{q.metric} by {q.by} per {q.interval}" + (f" since {q.since.date()}" if q.since else "")
             + (f" (latest {len(shown)} of {len(trend.periods)} periods)" if len(shown) < len(trend.periods) else ""))
    result = Table(title=title, title_justify="left")
    result.add_column(q.by)
    for period in shown:
        result.add_column(period[5:] if q.interval != "month" else period[:7], justify="right")
    result.add_column("total", justify="right")
    result.add_column("change", justify="right")
    for series in trend.series:
        result.add_row(cell(series.key), *[str(v) for v in series.values[-len(shown):]], str(series.total),
                       _change(series))
    return result


def to_csv(trend: Trend) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([trend.query.by, *trend.periods, "total", "change", "change_pct"])
    for series in trend.series:
        # CSV has no escapes of its own: a control character in a stored town name (never a real
        # one) is written as \x1b rather than raw to the terminal or spreadsheet that reads it.
        writer.writerow([visible(series.key, False), *series.values, series.total, series.change,
                         "" if series.change_pct is None else series.change_pct])
    return buffer.getvalue()


def plot(trend: Trend, path: Path, top: int = 8) -> Path:
    """The top series over time: dated axis, legend, and a title saying what and when."""
    from datetime import date

    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    q = trend.query
    figure, axes = plt.subplots(figsize=(10, 5.5), dpi=120)
    days: Any = [date.fromisoformat(p) for p in trend.periods]  # matplotlib's stubs want arrays; dates work
    for series in trend.series[:top]:
        axes.plot(days, series.values, marker="o", markersize=3, linewidth=1.6, label=series.key)
    span = f"{trend.periods[0]} – {trend.periods[-1]}" if trend.periods else "no data"
    shown = min(top, len(trend.series))
    axes.set_title(f"adwatch: {q.metric.replace('_', ' ')} per {q.interval} by {q.by}, top {shown} ({span})")
    axes.set_xlabel(f"{q.interval} starting (UTC)")
    axes.set_ylabel(q.metric.replace("_", " "))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 2.5 ads
    axes.grid(True, alpha=0.3)
    if trend.series:
        axes.legend(loc="upper left", fontsize="small", ncol=2)
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def trends(
    by: Annotated[str, typer.Option(help="town or county.")] = "town",
    interval: Annotated[str, typer.Option(help="day, week or month.")] = "week",
    since: Annotated[str | None, typer.Option(help="90d, 12w or a date.")] = "90d",
    until: Annotated[str | None, typer.Option(help="A date (exclusive).")] = None,
    metric: Annotated[str, typer.Option(help="ads, new_ads, phones, new_phones or flagged.")] = "ads",
    town: Annotated[list[str] | None, typer.Option(help="Only this town or county (repeatable).")] = None,
    top: Annotated[int, typer.Option(callback=within(1, 10_000), help="Series shown: the largest by total.")] = 20,
    output_format: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    plot_to: Annotated[Path | None, typer.Option("--plot", help="Also draw the top series to FILE.png or FILE.svg.")]
    = None,
) -> None:
    """How towns move: a series per town or county, the change against the previous period."""
    from index.open import open_store

    if output_format not in ("table", "csv", "json"):
        fail(f"--format: {output_format!r} is not one of table, csv, json")
        raise typer.Exit(2)
    if plot_to is not None and plot_to.suffix.lower() not in (".png", ".svg"):
        fail(f"--plot: {plot_to}: the file must end in .png or .svg")
        raise typer.Exit(2)
    try:
        query = build_trend_query(metric, by, interval, since, until, town or [],
                                  load_settings().get("ADWATCH_DEFAULT_REGION"))
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
    store = open_store(load_store_config(), readonly=True)
    try:
        trend = shape(query, store.trend_counts(query), top=top)
    finally:
        store.close()
    if output_format == "json":
        sys.stdout.write(json_text(trend.as_dict()) + "\n")
    elif output_format == "csv":
        sys.stdout.write(to_csv(trend))
    else:
        out.print(table(trend))
        if trend.risers:
            out.print("rising: " + ", ".join(f"{markup(s.key)} {_change(s)}" for s in trend.risers))
    if plot_to is not None:
        err.print(f"chart: {plot(trend, plot_to)}", markup=False)
