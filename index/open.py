"""Open the configured store: the settings are read once into a ``StoreConfig``, then used typed."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.sqlite import SqliteStore
from index.store import Store

if TYPE_CHECKING:  # Scrapy is imported only where settings are read: the stores work without it
    from scrapy.settings import BaseSettings, Settings


class StoreConfigError(ValueError):
    """The store cannot be used as configured; the message is one line: what, why, what to do."""


class StoreDamaged(StoreConfigError):
    """The database file is damaged (truncated, overwritten, corrupt): not a thing to retry."""


class DataFolderError(StoreConfigError):
    """The data folder cannot hold adwatch's files: a file in its place, read-only, full."""


def data_folder_error(folder: str | Path, reason: str) -> DataFolderError:
    """One line naming the folder, the reason and what to do."""
    return DataFolderError(f"{folder}: the data folder cannot be used ({reason}); make it a writable folder with "
                           "free space, or point ADWATCH_HOME (or ADWATCH_STORE) elsewhere")


def check_data_folder(folder: str | Path, write: bool = True) -> Path:
    """The data folder, created 0700 when missing; DataFolderError (one line) when it is a file, lies
    under a file, or (``write``) cannot be written. A folder the operator made is never chmod-ed."""
    from adwatch.core.private import ensure_private_dir

    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise data_folder_error(path, "it is a file, not a folder")
    if not path.exists():
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise data_folder_error(path, f"{parent} is a file, not a folder")
                break
    if not write:
        return path
    try:
        ensure_private_dir(path, tighten_existing=False)
    except OSError as exc:
        raise data_folder_error(path, exc.strerror or str(exc)) from None
    # Root passes permission checks, but not a read-only file system (access() says EROFS).
    if not os.access(path, os.W_OK | os.X_OK):
        raise data_folder_error(path, "not writable")
    return path


@dataclass(frozen=True)
class StoreConfig:
    """Everything needed to open the store (the settings of the same names, see config/settings.py)."""

    url: str  # ADWATCH_STORE: "sqlite", "sqlite:///PATH", "es" or "elasticsearch+http(s)://HOST:PORT"
    home: Path  # ADWATCH_HOME: the SQLite file and the spool live here
    es_url: str  # ADWATCH_ES_URL: the cluster "es" means
    es_prefix: str
    es_analyzer: str
    es_shards: int
    es_replicas: int
    es_timeout: float

    @property
    def elasticsearch(self) -> str | None:
        """The cluster URL when the store is Elasticsearch, else None."""
        if self.url in ("es", "elasticsearch"):
            return self.es_url
        if self.url.startswith(("elasticsearch+http://", "elasticsearch+https://")):
            return self.url.split("+", 1)[1]
        return None

    @property
    def sqlite_file(self) -> Path:
        return sqlite_path(self.url, self.home)


def sqlite_path(store_url: str, home: str | Path) -> Path:
    if store_url in ("", "sqlite"):
        return Path(home) / "adwatch.db"
    if store_url.startswith("sqlite:///"):
        return Path(store_url[len("sqlite:///") :])
    raise StoreConfigError(
        f"ADWATCH_STORE: unsupported store URL {store_url!r} "
        "(use 'sqlite', 'sqlite:///PATH', 'es' or 'elasticsearch+http://HOST:PORT')")


def _declared(values: Mapping[str, Any]) -> Settings:
    """A plain mapping over the declared settings: its gaps get the declared defaults."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("config.settings", priority="project")
    settings.update(dict(values), priority="cmdline")
    return settings


def store_config(settings: BaseSettings | Mapping[str, Any]) -> StoreConfig:
    """The one place the store's settings are read and converted (a plain mapping's gaps get
    the declared defaults)."""
    from scrapy.settings import BaseSettings

    if not isinstance(settings, BaseSettings):
        settings = _declared(settings)
    numbers: dict[str, Any] = {}
    for name, kind in (("ADWATCH_ES_SHARDS", int), ("ADWATCH_ES_REPLICAS", int), ("ADWATCH_ES_TIMEOUT", float)):
        try:
            numbers[name] = kind(settings.get(name))
        except (TypeError, ValueError):
            raise StoreConfigError(f"{name}: not a number: {settings.get(name)!r}") from None
    return StoreConfig(
        url=str(settings.get("ADWATCH_STORE")), home=Path(str(settings.get("ADWATCH_HOME"))),
        es_url=str(settings.get("ADWATCH_ES_URL")), es_prefix=str(settings.get("ADWATCH_ES_PREFIX")),
        es_analyzer=str(settings.get("ADWATCH_ES_ANALYZER")), es_shards=numbers["ADWATCH_ES_SHARDS"],
        es_replicas=numbers["ADWATCH_ES_REPLICAS"], es_timeout=numbers["ADWATCH_ES_TIMEOUT"],
    )


def spool_dir(config: StoreConfig) -> Path:
    """Where writes the store could not take wait: beside the store, so two stores never share it."""
    url = config.elasticsearch
    if url is not None:
        name = re.sub(r"[^\w.-]+", "_", url.split("://", 1)[-1]).strip("_")
        return config.home / f"elasticsearch-{name}-{config.es_prefix}.spool"
    return config.sqlite_file.with_suffix(".spool")


def open_store(config: StoreConfig, readonly: bool = False) -> Store:
    url = config.elasticsearch
    if url is not None:
        from index.elastic import ElasticStore

        return ElasticStore(url, prefix=config.es_prefix, analyzer=config.es_analyzer, shards=config.es_shards,
                            replicas=config.es_replicas, timeout=config.es_timeout, create=not readonly)
    path = config.sqlite_file
    check_data_folder(path.parent, write=not readonly)
    if readonly and not path.exists():
        raise StoreConfigError(f"{path}: no index yet (run 'adwatch crawl' first)")
    return SqliteStore(path, readonly=readonly)


def store_for_crawler(crawler: Any) -> Store:
    """One store per crawler, shared by the spider and the pipelines, closed when the engine stops."""
    store: Store | None = getattr(crawler, "_adwatch_store", None)
    if store is None:
        from scrapy import signals

        store = open_store(store_config(crawler.settings))
        crawler._adwatch_store = store
        crawler.signals.connect(store.close, signal=signals.engine_stopped)
    return store
