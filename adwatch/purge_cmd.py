"""``adwatch purge [--dry-run] [--json]``: remove what is past retention from the store and the archive.

What goes, in what order and why a crash loses nothing unexpired: ``adwatch/retention/purge.py``.
The ids removed are in a 0600 report under ``ADWATCH_HOME/purge/``; the audit log gets the counts
and the report's SHA-256. Exit 0 when done, 1 when the archive left files it could not read (named,
one line each), 2 on bad settings, 3 when the store is unavailable (nothing half-done that a second
run cannot finish).
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from adwatch.output import cell, err, fail, out, print_json, visible


def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Change nothing: say what would go.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only, on stdout.")] = False,
) -> None:
    """Remove what is past its retention (ADWATCH_RETAIN_*), except what a legal hold keeps."""
    from pathlib import Path

    from adwatch.core.clock import utcnow
    from adwatch.evidence.refs import ArchivePlace
    from adwatch.retention.policy import RetentionPolicy
    from adwatch.retention.purge import run
    from adwatch.settings import load_settings
    from adwatch.store_access import store_or_exit

    settings = load_settings()
    try:
        policy = RetentionPolicy.from_settings(settings)
    except ValueError as exc:
        fail(f"retention settings: {exc}")
        raise typer.Exit(2) from None
    place = ArchivePlace.from_settings(settings)
    with store_or_exit(readonly=dry_run) as store:
        try:
            outcome = run(store, policy, utcnow(), Path(str(settings.get("ADWATCH_HOME"))), place,
                          f"cli:{getpass.getuser()}", dry_run=dry_run)
        except OSError as exc:  # the archive or the report folder: what was done stays done, a rerun finishes
            fail(f"purge stopped: {exc}; run it again once that is fixed (nothing unexpired was removed)")
            raise typer.Exit(1) from None
    result = outcome.to_dict(dry_run)
    if as_json:
        print_json(result)
    else:
        table = Table(title=cell(("would remove" if dry_run else "removed") + f" (as of {result['cutoffs']})"),
                      title_justify="left")
        table.add_column("data")
        table.add_column("count", justify="right")
        for name, count in result["counts"].items():
            table.add_row(cell(name), cell(count))
        out.print(table)
        held = result["held"]
        err.print(cell(f"kept by {held['holds']} legal hold(s): {held['ads']} ad(s), {held['phones']} number(s)"))
        if result["report"]:
            err.print(cell(f"ids removed: {result['report']} (sha256 {result['report_sha256']}); "
                           f"audit entry {result['audit_entry']}"))
    for problem in result["evidence"]["problems"]:
        err.print(visible(f"evidence: {problem}", layout=False), markup=False)
    if result["evidence"]["problems"]:
        raise typer.Exit(1)
