"""``adwatch alerts check|evaluate|list|ack|deliver``: alert rules over the index, and their deliveries."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from adwatch.lookup import within
from adwatch.output import cell, err, fail, markup, out, print_json
from adwatch.settings import load_settings
from adwatch.store_access import open_store_or_exit, store_or_exit

if TYPE_CHECKING:
    from alerts.engine import AlertEngine
    from index.store import Store

alerts_app = typer.Typer(help="Alerts on new numbers near highways and numbers that travel (config/alerts.yaml).",
                         no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, on stdout.")]


def _store() -> Store:
    return open_store_or_exit(readonly=False)  # alert commands write (and migrate an older index)


def _engine(store: Store) -> AlertEngine:
    from alerts.engine import AlertEngine

    engine = AlertEngine.from_settings(load_settings(), store)
    if engine is None:
        fail(f"{load_settings().get('ADWATCH_ALERTS') or 'ADWATCH_ALERTS'}: no alerts file or no enabled rule")
        raise typer.Exit(2)
    return engine


def _since(value: str | None) -> str | None:
    from adwatch.lookup import since_or_exit

    return since_or_exit(value)


def deliveries_text(alert: dict[str, Any]) -> str:
    parts = []
    for channel, entry in sorted((alert.get("deliveries") or {}).items()):
        mark = {"sent": "✓", "failed": "✗"}.get(entry.get("status", ""), "…")
        parts.append(f"{channel}{mark}")
    return " ".join(parts)


def _road(alert: dict[str, Any]) -> str:
    if not alert.get("road"):
        return ""
    return f"{alert['road']} {alert['km']:g} km" if alert.get("km") is not None else str(alert["road"])


def alerts_table(alerts: list[dict[str, Any]], title: str) -> Table:
    from alerts.model import summary_line

    table = Table(title=title, title_justify="left")
    for column in ("id", "created", "rule", "phone", "town", "road", "what", "sent", "ack"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        table.add_row(cell(alert["id"]), cell(str(alert.get("created_at") or "")[:16]), cell(alert["rule"]),
                      cell(alert["phone"]), cell(alert.get("town") or ""), cell(_road(alert)),
                      cell(summary_line(alert).split("] ", 1)[-1]), cell(deliveries_text(alert)),
                      "yes" if alert.get("acked_at") else "")
    return table


@alerts_app.command()
def check() -> None:
    """Check config/alerts.yaml: one line per problem (file, field, reason); exit 1 if any."""
    from alerts.engine import load_config
    from alerts.notifiers import build_notifiers

    settings = load_settings()
    path = str(settings["ADWATCH_ALERTS"] or "")
    from pathlib import Path

    config, problems = load_config(path, settings["ADWATCH_DEFAULT_REGION"], settings["ADWATCH_HIGHWAYS"] or None)
    _, more = build_notifiers(config, home=Path(settings["ADWATCH_HOME"]), config_file=Path(path))
    for problem in problems + more:
        fail(str(problem))
    active = config.active_rules()
    err.print(markup(f"{path}: {len(active)} rules ({', '.join(active) or 'none'}), "
                     f"{len(config.channels)} channels ({', '.join(config.channels) or 'none'})"))
    if problems or more:
        raise typer.Exit(1)


@alerts_app.command()
def evaluate(
    since: Annotated[str, typer.Option(help="Numbers first seen, or seen, since: 30d, 2w, 2026-11-01.")] = "30d",
    deliver: Annotated[bool, typer.Option(help="Send the alerts raised now to their channels.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Run the rules over the index (replay): raises what real time missed, never an alert twice."""
    moment = _since(since)
    assert moment is not None
    with store_or_exit(readonly=False) as store:  # alert commands write (and migrate an older index)
        engine = _engine(store)
        found = engine.evaluate_since(moment)
        created = engine.store_alerts(found)
        report = engine.deliver(created, patient=True) if deliver else None
    if as_json:
        print_json({"raised": len(found), "new": len(created), "alerts": created,
                    "sent": report.sent if report else 0, "failed": report.failed if report else 0})
        return
    out.print(alerts_table(created, markup(f"adwatch alerts evaluate --since {since} → {len(created)} new alerts "
                                           f"({len(found) - len(created)} raised before)")))
    if report and report.failed:
        err.print(f"{report.failed} deliveries failed and wait for 'adwatch alerts deliver': "
                  + markup("; ".join(sorted(set(report.errors))[:3])))


@alerts_app.command("list")
def list_alerts(
    since: Annotated[str | None, typer.Option(help="Created since: 7d, 24h, 2026-11-01.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule (its name in alerts.yaml).")] = None,
    limit: Annotated[int, typer.Option(callback=within(1, 10_000), help="Alerts shown (1 to 10000).")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Alerts, newest first."""
    store = _store()  # writable: an index from before alerts existed gets their table first
    try:
        found = store.alerts(since=_since(since), rule=rule, limit=limit)
    finally:
        store.close()
    if as_json:
        for alert in found:
            print_json(alert)
        return
    out.print(alerts_table(found, f"{len(found)} alerts"))


@alerts_app.command()
def ack(alert_id: Annotated[str, typer.Argument(help="The alert's id (adwatch alerts list).")]) -> None:
    """Mark an alert as seen by you."""
    from adwatch.core.clock import now_iso

    store = _store()
    try:
        done = store.ack_alert(alert_id, getpass.getuser(), now_iso())
    finally:
        store.close()
    if not done:
        fail(f"no alert {alert_id}")
        raise typer.Exit(1)
    err.print(markup(f"alert {alert_id} acknowledged by {getpass.getuser()}"))


@alerts_app.command("deliver")
def deliver_alerts(
    all_now: Annotated[bool, typer.Option("--now", help="Also those whose next attempt is not due yet.")] = False,
) -> None:
    """Send alerts that some channel has not received yet (retries with backoff)."""
    with store_or_exit(readonly=False) as store:
        engine = _engine(store)
        assert engine.dispatcher is not None
        report = engine.dispatcher.retry_waiting(patient=True, due_only=not all_now)
    err.print(f"{report.sent} sent, {report.failed} failed, {report.waiting} waiting")
    for line in sorted(set(report.errors)):
        fail(line)
    if report.failed:
        raise typer.Exit(1)
