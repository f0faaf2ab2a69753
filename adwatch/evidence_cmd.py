"""``adwatch evidence show|export|verify``: an ad's archived records, case files (WACZ), digests."""

from __future__ import annotations

import typer

evidence_app = typer.Typer(help="Archived evidence: what the crawler fetched (WARC), case files (WACZ), digests.")
