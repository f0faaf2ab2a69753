"""Open the configured store for a CLI command, or say in one line why not and exit 2."""

from __future__ import annotations

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
