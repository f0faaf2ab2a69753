"""The summary printed after a crawl or by ``adwatch stats``."""

from __future__ import annotations

from typing import Any

from adwatch.output import counts_table, out


def print_summary(summary: dict[str, Any]) -> None:
    out.print(
        f"[bold]{summary['ads']}[/bold] ads · [bold]{summary['phones']}[/bold] phone numbers "
        f"({summary['multi_town_phones']} in more than one town) · [bold]{summary['towns']}[/bold] towns"
    )
    out.print(counts_table("ads by source", summary["sources"], "source"))
    out.print(counts_table("top towns", summary["top_towns"], "town"))


def print_eval(report: dict[str, Any], below: list[str]) -> None:
    from rich.table import Table

    table = Table(title=f"adwatch eval · {report['ads']} ads", title_justify="left")
    for name in ("what", "precision", "recall", "F1", "support"):
        table.add_column(name, justify="left" if name == "what" else "right")
    rows = [("phones", report["phones"]), ("towns", report["towns"])]
    rows += [(f"  {name}", row) for name, row in report["categories"].items()]
    rows.append(("categories (micro)", report["categories_micro"]))
    for name, row in rows:
        table.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                      str(row["support"]))
    out.print(table)
    out.print(f"language accuracy: {report['language_accuracy']}")
    out.print("targets met" if not below else "[bold red]below target:[/bold red] " + "; ".join(below))
