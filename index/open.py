"""Open the configured store from settings (``ADWATCH_STORE``, ``ADWATCH_HOME``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from index.sqlite import SqliteStore
from index.store import Store


class StoreConfigError(ValueError):
    pass


def sqlite_path(store_url: str, home: str | Path) -> Path:
    if store_url in ("", "sqlite"):
        return Path(home) / "adwatch.db"
    if store_url.startswith("sqlite:///"):
        return Path(store_url[len("sqlite:///") :])
    raise StoreConfigError(f"ADWATCH_STORE: unsupported store URL {store_url!r} (use 'sqlite' or 'sqlite:///PATH')")


def spool_dir(settings: Any) -> Path:
    """Where writes the store could not take wait: beside the store, so two stores never share it."""
    path = sqlite_path(str(settings.get("ADWATCH_STORE") or "sqlite"), settings.get("ADWATCH_HOME") or "data")
    return path.with_suffix(".spool")


def open_store(settings: Any, readonly: bool = False) -> Store:
    """``settings`` is anything with ``.get`` (Scrapy Settings or a dict)."""
    path = sqlite_path(str(settings.get("ADWATCH_STORE") or "sqlite"), settings.get("ADWATCH_HOME") or "data")
    if readonly and not path.exists():
        raise StoreConfigError(f"{path}: no index yet (run 'adwatch crawl' first)")
    return SqliteStore(path, readonly=readonly)


def store_for_crawler(crawler: Any) -> Store:
    """One store per crawler, shared by the spider and the pipelines, closed when the engine stops."""
    store: Store | None = getattr(crawler, "_adwatch_store", None)
    if store is None:
        from scrapy import signals

        store = open_store(crawler.settings)
        crawler._adwatch_store = store
        crawler.signals.connect(store.close, signal=signals.engine_stopped)
    return store
