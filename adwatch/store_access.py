"""Open the configured store for a CLI command, or say in one line why not and exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from adwatch.output import fail
from adwatch.settings import load_store_config

if TYPE_CHECKING:
    from index.store import Store


def open_store_or_exit(readonly: bool = True) -> Store:
    from index import open_store
    from index.open import StoreConfigError

    try:
        return open_store(load_store_config(), readonly=readonly)
    except (StoreConfigError, OSError) as exc:
        fail(str(exc))
        raise typer.Exit(2) from None


@contextmanager
def store_or_exit(readonly: bool = True) -> Iterator[Store]:
    """The store for the block, closed after it; a store that becomes unavailable in the block is
    one line on stderr and exit 3 (as the CLI's own handler says it)."""
    from index.store import StoreUnavailable

    store = open_store_or_exit(readonly=readonly)
    try:
        yield store
    except StoreUnavailable as exc:
        fail(f"store unavailable: {exc}")
        raise typer.Exit(3) from None
    finally:
        store.close()
