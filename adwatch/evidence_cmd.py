"""``adwatch evidence show|export|verify``: an ad's archived records, case files (WACZ), digests.

``show`` and ``export`` look at data about people: each is written to the audit log first, as
``cli:<system user>``; when the log cannot take the entry nothing is shown or written.
"""

from __future__ import annotations

import getpass
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.table import Table

from adwatch.output import cell, err, fail, markup, out, print_json, visible
from adwatch.settings import load_settings
from adwatch.store_access import store_or_exit

if TYPE_CHECKING:
    from adwatch.evidence.cases import CaseAd
    from adwatch.evidence.refs import ArchivePlace
    from adwatch.evidence.verify import RefCheck
    from index.store import Store

evidence_app = typer.Typer(help="Archived evidence: what the crawler fetched (WARC), case files (WACZ), digests.",
                           no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, on stdout.")]


def _stop(message: str, code: int = 2) -> NoReturn:
    fail(message)
    raise typer.Exit(code)


def operator() -> str:
    return f"cli:{getpass.getuser()}"


def _place() -> ArchivePlace:
    from adwatch.evidence.refs import ArchivePlace

    return ArchivePlace.from_settings(load_settings())


def _audit(store: Store, action: str, params: dict[str, Any], count: int | None) -> None:
    """The entry goes in before anything is shown or written; no entry, no answer (exit 3)."""
    from adwatch.core.clock import now_iso

    try:
        store.audit_append(operator(), action, params, count, now_iso())
    except Exception as exc:  # any store failure: the look is refused, whatever the backend raised
        _stop(f"the audit log cannot be written ({type(exc).__name__}: {exc}); nothing was {_DONE[action]}", 3)


_DONE = {"evidence.show": "shown", "evidence.export": "exported"}


# --- show ---------------------------------------------------------------------------------------
def _checks_dict(item: CaseAd) -> dict[str, Any]:
    return {"id": item.ad["id"], "version": item.ad.get("version"),
            "records": [c.to_dict() for c in item.current],
            "versions": [{"version": v.version, "replaced_at": v.replaced_at,
                          "records": [c.to_dict() for c in v.checks]} for v in item.earlier]}


def _checks_table(title: str, checks: list[RefCheck]) -> Table:
    table = Table(title=cell(title), title_justify="left")
    for column in ("type", "status", "fetched", "url", "sha256", "file", "offset"):
        table.add_column(column, overflow="fold", justify="right" if column == "offset" else "left")
    for check in checks:
        ref = check.ref
        table.add_row(cell(ref.type), cell(check.status), cell(ref.fetched_at), cell(ref.url), cell(ref.sha256),
                      cell(ref.warc), cell(ref.offset))
    return table


@evidence_app.command()
def show(ad_id: Annotated[str, typer.Argument(help="The ad's id (adwatch search shows it).")],
         as_json: JsonOpt = False) -> None:
    """The records an ad points to, for its current and each earlier version, each checked now
    (ok, changed or missing). Exit 1 when one is not ok or there is no such ad."""
    from adwatch.evidence.cases import case_ad

    place = _place()
    with store_or_exit(readonly=False) as store:
        ad = store.get_ad(ad_id)
        _audit(store, "evidence.show", {"id": ad_id}, 0 if ad is None else 1)
        if ad is None:
            _stop(f"no ad {ad_id!r}", 1)
        item = case_ad(store, place, ad)
    checks = list(item.checks())
    if as_json:
        print_json(_checks_dict(item))
    else:
        if not checks:
            out.print(cell(f"ad {ad_id}: no archived records (fetched before archiving, or with it off)"))
        if item.current:
            out.print(_checks_table(f"ad {ad_id}, version {item.ad.get('version') or 1} (current)", item.current))
        for version in item.earlier:
            title = f"ad {ad_id}, version {version.version} (replaced {version.replaced_at or '?'})"
            if version.checks:
                out.print(_checks_table(title, version.checks))
            else:
                out.print(cell(f"{title}: no archived records"))
        for check in checks:
            if check.status != "ok":
                err.print(markup(visible(f"{check.status}: {check.ref.warc} at {check.ref.offset}: {check.detail}",
                                         False)))
    if any(c.status != "ok" for c in checks):
        raise typer.Exit(1)


# --- export -------------------------------------------------------------------------------------
@evidence_app.command()
def export(
    ad_ids: Annotated[list[str] | None, typer.Argument(help="Ad ids.", metavar="AD_ID", show_default=False)]
    = None,
    phone: Annotated[str | None, typer.Option(help="Every ad carrying this number (any format).")] = None,
    search: Annotated[str | None, typer.Option(help="Every ad a search finds (adwatch search's query syntax).")]
    = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="The case file to write (.wacz).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Package ads, their versions and their archived records as a case file (WACZ). Exit 1 when
    some record could not be read or no longer matches (the file is written and says so)."""
    from adwatch.evidence.cases import CaseError, build_case
    from adwatch.evidence.wacz import CaseFileExists, write_case

    given = sum(bool(x) for x in (ad_ids, phone, search))
    if given != 1:
        _stop("name the ads: AD_ID…, --phone NUMBER or --search QUERY (one of them)")
    if out_path is None:
        _stop("--out: give the case file to write (case.wacz)")
    if out_path.exists() and not force:
        _stop(f"--out: {out_path} exists already (--force replaces it)")
    if not out_path.parent.is_dir():
        _stop(f"--out: no folder {out_path.parent}")
    selector = _selector(ad_ids or [], phone, search)
    place = _place()
    with store_or_exit(readonly=False) as store:
        try:
            case = build_case(store, place, selector)
        except CaseError as exc:
            _stop(str(exc))
        except ValueError as exc:  # what only the store can say (a query it cannot run)
            _stop(f"--search: {exc}")
        if not case.ads:
            _audit(store, "evidence.export", selector.describe() | {"out": str(out_path)}, 0)
            _stop("no ads match: nothing exported", 1)
        _audit(store, "evidence.export", selector.describe() | {"out": str(out_path)}, len(case.ads))
    started = time.monotonic()
    try:
        result = write_case(case, place, out_path, operator(), force=force)
    except CaseFileExists as exc:
        _stop(str(exc))
    except OSError as exc:
        _stop(f"--out: cannot write {out_path}: {exc.strerror or exc}")
    summary = {"file": str(result.path), "sha256": result.sha256, "bytes": result.bytes, "counts": result.counts,
               "problems": result.problems, "seconds": round(time.monotonic() - started, 3)}
    if as_json:
        print_json(summary)
    for problem in result.problems:
        err.print(markup(visible(f"warning: {problem}", False)))
    counts = result.counts
    err.print(markup(visible(f"{result.path}: {counts['ads']} ads, {counts['versions']} earlier versions, "
                             f"{counts['packaged']} of {counts['records']} records; sha256 {result.sha256}", False)))
    if result.problems:
        raise typer.Exit(1)


def _selector(ids: list[str], phone: str | None, search: str | None) -> Any:
    from adwatch.evidence.cases import CASE_MAX_ADS, Selector

    settings = load_settings()
    region = str(settings.get("ADWATCH_DEFAULT_REGION"))
    if phone:
        from nlp.phones import normalize_phone

        e164 = normalize_phone(phone, region)
        if e164 is None:
            _stop(f"--phone: not a valid phone number: {phone!r}")
        return Selector(phone=e164)
    if search is not None:
        from adwatch.lookup import build_query

        try:
            query = build_query(search, region=region, limit=CASE_MAX_ADS,
                                max_chars=settings.getint("ADWATCH_SEARCH_MAX_CHARS"),
                                max_terms=settings.getint("ADWATCH_SEARCH_MAX_TERMS"))
        except ValueError as exc:
            _stop(f"--search: {exc}")
        return Selector(search=search, query=query)
    return Selector(ids=tuple(ids))


# --- verify -------------------------------------------------------------------------------------
@evidence_app.command()
def verify(
    files: Annotated[list[Path] | None, typer.Argument(help="WARC files (.warc.gz) or case files (.wacz).",
                                                       metavar="FILE", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every WARC in the archive and every stored ad's "
                                                     "references.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every digest. One line per change (file, record id, offset); exit 0 when all
    match, 1 when something changed or is missing, 2 for a usage error."""
    from adwatch.evidence.verify import Report, verify_all, verify_paths

    if bool(files) == all_:
        _stop("name the files to verify, or --all (not both)")
    for path in files or []:
        if not path.is_file():
            _stop(f"no file {path}")
    started = time.monotonic()
    report = Report()
    if all_:
        place = _place()
        with store_or_exit(readonly=True) as store:
            report.add(verify_all(place, store))
    try:
        report.add(verify_paths(list(files or [])))
    except OSError as exc:
        _stop(f"cannot be read: {exc}")
    seconds = max(time.monotonic() - started, 1e-9)
    if as_json:
        print_json(report.to_dict() | {"seconds": round(seconds, 3)})
    else:
        for finding in report.findings:
            print(visible(finding.line(), layout=False))
    rate = report.bytes / seconds / 1e6
    what = f"{report.files} files, {report.records} records" + (f", {report.refs} references" if report.refs else "")
    verdict = "all digests match" if report.ok else f"{len(report.findings)} change(s) found"
    err.print(markup(f"{what}, {report.bytes / 1e6:.1f} MB in {seconds:.2f} s ({rate:.0f} MB/s): {verdict}"))
    if not report.ok:
        raise typer.Exit(1)
