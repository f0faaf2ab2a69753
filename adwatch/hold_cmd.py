"""``adwatch hold add|list|release``: legal holds keep what a case needs from ``adwatch purge``.

What each kind keeps (``adwatch/retention/holds.py``): ``--ad ID…`` those ads with every version
and the records they point to; ``--phone X`` every ad carrying the number, now and later until
release, and its registry entry; ``--search QUERY`` the ads the query matches now (a recorded
snapshot). Adding and releasing are written to the audit log as ``cli:<os user>``.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from adwatch.output import cell, err, fail, out, print_json

hold_app = typer.Typer(help="Legal holds: data a case needs, exempt from retention and purge.",
                       no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, on stdout.")]
CaseArg = Annotated[str, typer.Argument(help="The case's name or number, as the unit files it.")]
_MAX_CASE = 200


def _case(case: str) -> str:
    name = " ".join(case.split())
    if not name or len(name) > _MAX_CASE or any(ord(c) < 32 or ord(c) == 127 for c in case):
        fail(f"a case name is 1 to {_MAX_CASE} printable characters")
        raise typer.Exit(2)
    return name


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def _e164(phone: str) -> str:
    from adwatch.settings import load_settings
    from nlp.phones import normalize_phone

    e164 = normalize_phone(phone, str(load_settings().get("ADWATCH_DEFAULT_REGION")))
    if not e164:
        fail(f"--phone: not a valid phone number: {phone!r}")
        raise typer.Exit(2)
    return e164


@hold_app.command()
def add(
    case: CaseArg,
    ad: Annotated[list[str] | None, typer.Option("--ad", help="An ad id (repeat for more).")] = None,
    phone: Annotated[str | None, typer.Option(help="A phone number: its ads now and later, and its registry "
                                                   "entry.")] = None,
    search: Annotated[str | None, typer.Option(help="A search: the ads it matches now.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Hold data for CASE: exactly one of --ad (repeatable), --phone or --search."""
    from adwatch.core.clock import now_iso
    from adwatch.retention.holds import search_snapshot
    from adwatch.store_access import store_or_exit
    from index.query import SearchQuery

    name = _case(case)
    if sum(x is not None and x != [] for x in (ad, phone, search)) != 1:
        fail("give exactly one of --ad ID…, --phone NUMBER or --search QUERY")
        raise typer.Exit(2)
    at = now_iso()
    with store_or_exit(readonly=False) as store:
        if ad:
            ids = sorted(set(ad))
            missing = [i for i in ids if store.get_ad(i) is None]
            if missing:
                fail(f"no such ad: {', '.join(missing[:5])}" + (" …" if len(missing) > 5 else ""))
                raise typer.Exit(1)
            kind, value = "ad", " ".join(ids)
        elif phone is not None:
            value = _e164(phone)
            ids = [a["id"] for a in store.phone_ads(value)]
            kind = "phone"
        else:
            assert search is not None
            try:
                ids = search_snapshot(store, SearchQuery(text=search))
            except ValueError as exc:
                fail(str(exc))
                raise typer.Exit(1) from None
            kind, value = "search", search
        # The entry first: a hold nobody can account for is worse than none (no entry → no hold).
        store.audit_append(_operator(), "hold.add", {"case": name, "kind": kind, "value": value, "ads": ids},
                           len(ids), at)
        hold = store.add_hold(name, kind, value, ids, _operator(), at)
    if as_json:
        print_json(hold)
    else:
        err.print(cell(f"hold {hold['id']} for case {name}: {kind} {value} ({len(ids)} ad(s) now)"))


@hold_app.command("list")
def list_holds(
    case: Annotated[str | None, typer.Option(help="Only this case's holds.")] = None,
    active: Annotated[bool, typer.Option("--active", help="Only holds not released.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every hold, oldest first; released ones show who released them and when."""
    from adwatch.store_access import store_or_exit

    with store_or_exit(readonly=True) as store:
        holds = store.holds(case=case, active=True if active else None)
    if as_json:
        print_json(holds)
        return
    table = Table(title=cell(f"{len(holds)} legal hold(s)"), title_justify="left")
    for column in ("case", "kind", "value", "ads", "by", "at", "released"):
        table.add_column(column, overflow="fold")
    for hold in holds:
        released = f"{hold['released_at']} by {hold['released_by']}" if hold.get("released_at") else "active"
        table.add_row(*map(cell, (hold["case"], hold["kind"], hold["value"], len(hold["ads"]), hold["by"],
                                  hold["at"], released)))
    out.print(table)


@hold_app.command()
def release(case: CaseArg, as_json: JsonOpt = False) -> None:
    """Release every active hold of CASE (they stay listed, as released); exit 1 when it has none."""
    from adwatch.core.clock import now_iso
    from adwatch.store_access import store_or_exit

    name = _case(case)
    at = now_iso()
    with store_or_exit(readonly=False) as store:
        active = store.holds(case=name, active=True)
        if not active:
            fail(f"case {name!r} has no active hold")
            raise typer.Exit(1)
        store.audit_append(_operator(), "hold.release", {"case": name, "holds": [h["id"] for h in active]},
                           len(active), at)
        released = store.release_holds(name, _operator(), at)
    if as_json:
        print_json(released)
    else:
        err.print(cell(f"released {len(released)} hold(s) of case {name}"))
