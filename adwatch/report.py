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
