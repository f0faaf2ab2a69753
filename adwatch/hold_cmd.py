"""``adwatch hold add|list|release``: legal holds keep what a case needs from ``adwatch purge``."""

from __future__ import annotations

import typer

hold_app = typer.Typer(help="Legal holds: data a case needs, exempt from retention and purge.")
