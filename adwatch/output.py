"""Output for humans (rich tables on stdout) and for tools (JSON only on stdout).

Everything shown comes, in the end, from pages written by strangers, so nothing printed may
be read by the terminal as a command or by rich as markup: table cells are ``cell()`` (a
plain ``Text``, never parsed as markup), values put into markup strings go through
``markup()``, and both consoles carry a render hook that makes any control character that
still reaches them visible (a net under the rule, not the rule).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderableType, RenderHook, RenderResult
from rich.markup import escape
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

# What a terminal could act on instead of showing: C0 controls (ESC starts escape sequences,
# BEL ends OSC titles, CR overwrites a line), DEL, the C1 controls (U+009B is a one-character
# CSI for many terminals) and the bidi embeddings, overrides and isolates that reorder what
# is shown (U+202A-202E, U+2066-2069). Newline and tab are layout; callers that want a single
# line collapse them first.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_HIDDEN_OR_LAYOUT = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# json.dumps escapes C0 already; these it leaves raw (ensure_ascii=False keeps other Unicode readable).
_JSON_RAW = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    """The Python-literal spelling: ESC → \\x1b, U+202E → \\u202e (what ``repr`` would show)."""
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: object, layout: bool = True) -> str:
    """``value`` as text a terminal shows and never interprets: every control character written
    as its escape (``\\x1b``); newline and tab kept when ``layout``, else escaped as well."""
    text = "" if value is None else str(value)
    return (_HIDDEN if layout else _HIDDEN_OR_LAYOUT).sub(_escaped, text)


def cell(value: object) -> Text:
    """A table cell from stored or page-derived text: shown as written, never markup, never a command."""
    return Text(visible(value))


def markup(value: object) -> str:
    """A value to put inside a rich markup string: ``[bold]`` in a title prints as ``[bold]``."""
    return escape(visible(value))


class _Shown:
    """Renders what it wraps, with any control character left in its text made visible."""

    def __init__(self, inner: RenderableType) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.inner, options):
            if segment.control or not _HIDDEN.search(segment.text):
                yield segment
            else:
                yield Segment(visible(segment.text), segment.style)


class _ShowControls(RenderHook):
    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [_Shown(r) for r in renderables]


# Piped output is not cut to 80 columns: ids and phone numbers must survive intact.
out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)
for _console in (out, err):
    _console.push_render_hook(_ShowControls())


def json_text(value: Any) -> str:
    """Exact JSON, with every character a terminal could act on written as a ``\\uXXXX`` escape."""
    dumped = json.dumps(value, ensure_ascii=False, default=str, indent=None)
    # Outside strings JSON has only ASCII punctuation, so each match is inside a string,
    # where \\uXXXX is the same character to any JSON reader.
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def print_json(value: Any) -> None:
    sys.stdout.write(json_text(value) + "\n")


def fail(message: str) -> None:
    """One clear line on stderr (never wrapped, so tools can grep it); the caller decides the exit code."""
    line = visible(" ".join(message.split()), layout=False)
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()


def _short(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def ads_table(hits: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(title=cell(title) if title is not None else None, show_lines=False, title_justify="left")
    for name in ("date", "town", "phones", "title", "indicators", "id"):
        table.add_column(name, overflow="fold" if name in ("phones", "indicators") else "ellipsis")
    for ad in hits:
        categories = sorted({hit["category"] for hit in ad.get("indicators") or []})
        table.add_row(
            cell((ad.get("posted_at") or ad.get("first_seen_at") or "")[:10]),
            cell(ad.get("town") or ""),
            cell("\n".join(ad.get("phones") or [])),
            cell(_short(ad.get("title"), 48)),
            cell((f"{ad.get('indicator_score', 0):g}: " + ", ".join(categories)) if categories else ""),
            cell(ad.get("id") or ""),
        )
    return table


def counts_table(title: str, counts: dict[str, int], label: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(label)
    table.add_column("ads", justify="right")
    for key, count in counts.items():
        table.add_row(cell(key), str(count))
    return table


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(title="crawl runs", title_justify="left")
    for name in ("id", "source", "started", "status", "pages", "new", "updated", "errors"):
        table.add_column(name, justify="right" if name in ("id", "pages", "new", "updated", "errors") else "left")
    for run in runs:
        status = run["status"] + (f" ({run['reason']})" if run.get("reason") else "")
        table.add_row(str(run["id"]), cell(run["source"]), cell(run["started_at"]), cell(status),
                      str(run["pages"]), str(run["new_ads"]), str(run["updated_ads"]), str(run["errors"]))
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
