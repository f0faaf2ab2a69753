"""Open the configured store: the settings are read once into a ``StoreConfig``, then used typed."""

from __future__ import annotations

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
    pass


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
