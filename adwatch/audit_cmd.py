"""``adwatch audit [--user U] [--since 7d] [--action A] [--limit N] [--json]`` and ``adwatch audit verify``.

The audit log records who searched and viewed what (the web UI and the API write it). Every
value in it may carry text from a page or a request, so everything shown goes through
``adwatch.output`` (cells, ``visible``, JSON with control characters escaped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from adwatch.lookup import within
from adwatch.output import cell, err, fail, json_text, out, print_json, visible
from adwatch.store_access import store_or_exit

if TYPE_CHECKING:
    from index.audit_chain import VerifyReport
    from index.store import Store

audit_app = typer.Typer(help="The audit log: who searched and viewed what, when (append-only, hash-chained).")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, on stdout.")]
# Entries per request while verifying: the whole chain is walked, never held at once.
VERIFY_PAGE = 1000


def _since(value: str | None) -> str | None:
    from adwatch.lookup import since_or_exit

    return since_or_exit(value)


def _params_text(params: Any) -> str:
    """Parameters on one line: compact JSON, every control character (and newline) made visible."""
    text = json_text(params) if isinstance(params, dict | list) else str(params)
    return visible(text, layout=False)


def audit_table(entries: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=cell(title), title_justify="left")
    for column in ("seq", "at", "user", "action", "params", "results"):
        table.add_column(column, overflow="fold", justify="right" if column in ("seq", "results") else "left")
    for entry in entries:
        count = entry.get("result_count")
        one_line = [visible(entry.get(name), layout=False) for name in ("seq", "at", "user", "action")]
        table.add_row(*map(cell, one_line), cell(_params_text(entry.get("params"))),
                      cell("" if count is None else count))
    return table


@audit_app.callback(invoke_without_command=True)
def list_entries(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="Only this user's entries.")] = None,
    since: Annotated[str | None, typer.Option(help="Entries since: 7d, 24h, 2026-11-01 or an ISO time.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action: search, ad.view, phone.view, export, "
                                                    "login, login.failed, …")] = None,
    limit: Annotated[int, typer.Option(callback=within(1, 10_000), help="Entries shown (1 to 10000).")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The audit log, newest first ('adwatch audit verify' checks its chain)."""
    if ctx.invoked_subcommand is not None:
        return
    moment = _since(since)
    with store_or_exit(readonly=True) as store:  # reading the log never writes the store
        entries = store.audit_entries(user=user, since=moment, action=action, limit=limit)
    if as_json:
        print_json(entries)
        return
    out.print(audit_table(entries, f"{len(entries)} audit entries, newest first"))


def walk(store: Store, anchor: tuple[int, str] | None = None, page: int = VERIFY_PAGE) -> VerifyReport:
    """Verify the whole chain, a page at a time (``index.audit_chain.ChainVerifier``)."""
    from index.audit_chain import ChainVerifier, purged_head

    first = store.audit_chain(after_seq=0, limit=1)
    head = None
    if first and isinstance(first[0].get("seq"), int) and first[0]["seq"] > 1:
        # Entries past retention were purged: the purge's own entry says where the chain starts.
        head = purged_head(store.audit_entries(action="purge", limit=10_000), first[0]["seq"])
    verifier = ChainVerifier(anchor, head)
    after = 0
    while True:
        entries = store.audit_chain(after_seq=after, limit=page)
        verifier.add(entries)
        seqs = [e["seq"] for e in entries if isinstance(e.get("seq"), int) and not isinstance(e["seq"], bool)]
        if len(entries) < page or not seqs or max(seqs) <= after:  # the end, or a page that cannot advance
            break
        after = max(seqs)
    return verifier.finish()


@audit_app.command()
def verify(
    anchor: Annotated[str | None, typer.Option(
        help="SEQ:HASH printed by an earlier verify and kept outside the store: also finds a cut tail "
             "or a chain rewritten up to that entry.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the audit log's hash chain: exit 0 when intact, 1 with one line per problem."""
    from index.audit_chain import parse_anchor

    try:
        pinned = parse_anchor(anchor) if anchor is not None else None
    except ValueError as exc:
        fail(f"--anchor: {exc}")
        raise typer.Exit(2) from None
    with store_or_exit(readonly=True) as store:
        report = walk(store, pinned)
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        start = f" from the purge anchor {report.start}" if report.start else ""
        out.print(cell(f"audit log intact: {report.checked} entries{start}; "
                       f"anchor {report.anchor or 'none (empty log)'}"), soft_wrap=True)
    else:
        for line in report.lines():
            print(visible(line, layout=False))
        err.print(cell(f"audit log NOT intact: {len(report.problems)} problem(s) in {report.checked} entries"))
    if not report.ok:
        raise typer.Exit(1)
