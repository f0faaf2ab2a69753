"""Output for humans (rich tables on stdout) and for tools (JSON only on stdout)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

# Piped output is not cut to 80 columns: ids and phone numbers must survive intact.
out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str, indent=None) + "\n")


def fail(message: str) -> None:
    """One clear line on stderr (never wrapped, so tools can grep it); the caller decides the exit code."""
    line = " ".join(message.split())
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()


def _short(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def ads_table(hits: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, title_justify="left")
    for name in ("date", "town", "phones", "title", "indicators", "id"):
        table.add_column(name, overflow="fold" if name in ("phones", "indicators") else "ellipsis")
    for ad in hits:
        categories = sorted({hit["category"] for hit in ad.get("indicators") or []})
        table.add_row(
            (ad.get("posted_at") or ad.get("first_seen_at") or "")[:10],
            ad.get("town") or "",
            "\n".join(ad.get("phones") or []),
            _short(ad.get("title"), 48),
            (f"{ad.get('indicator_score', 0):g}: " + ", ".join(categories)) if categories else "",
            ad.get("id") or "",
        )
    return table


def counts_table(title: str, counts: dict[str, int], label: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(label)
    table.add_column("ads", justify="right")
    for key, count in counts.items():
        table.add_row(key, str(count))
    return table


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(title="crawl runs", title_justify="left")
    for name in ("id", "source", "started", "status", "pages", "new", "updated", "errors"):
        table.add_column(name, justify="right" if name in ("id", "pages", "new", "updated", "errors") else "left")
    for run in runs:
        status = run["status"] + (f" ({run['reason']})" if run.get("reason") else "")
        table.add_row(str(run["id"]), run["source"], run["started_at"], status, str(run["pages"]),
                      str(run["new_ads"]), str(run["updated_ads"]), str(run["errors"]))
    return table


def source_health(recent: list[dict[str, Any]]) -> str:
    """One line on a source from its recent runs (newest first): healthy, or failing since when and why."""
    if not recent:
        return "never crawled"
    failing = 0
    for run in recent:
        if run["status"] in ("ok", "running"):
            break
        failing += 1
    last_ok = next((r["started_at"] for r in recent if r["status"] == "ok"), None)
    if failing == 0:
        return f"healthy (last crawl {recent[0]['status']} at {recent[0]['started_at']})"
    since = f"last ok {last_ok}" if last_ok else "no ok run on record"
    return (f"ATTENTION: {failing} crawl(s) in a row not ok ({since}); latest {recent[0]['status']}: "
            f"{recent[0].get('reason') or 'no reason recorded'}")
