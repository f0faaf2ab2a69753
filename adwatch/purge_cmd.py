"""``adwatch purge [--dry-run]``: remove what is past retention from the store and the archive."""

from __future__ import annotations


def purge() -> None:
    """Remove what is past its retention (ADWATCH_RETAIN_*), except what a legal hold keeps."""
    raise NotImplementedError("adwatch purge is being built (issue 15)")
