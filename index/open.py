"""Open the configured store from settings (``ADWATCH_STORE``, ``ADWATCH_HOME``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from index.sqlite import SqliteStore
from index.store import Store


class StoreConfigError(ValueError):
    pass


def elasticsearch_url(store_url: str, settings: Any) -> str | None:
    """The cluster URL when the store is Elasticsearch, else None."""
    if store_url in ("es", "elasticsearch"):
        return str(settings.get("ADWATCH_ES_URL") or "http://127.0.0.1:9200")
    if store_url.startswith(("elasticsearch+http://", "elasticsearch+https://")):
        return store_url.split("+", 1)[1]
    return None


def sqlite_path(store_url: str, home: str | Path) -> Path:
    if store_url in ("", "sqlite"):
        return Path(home) / "adwatch.db"
    if store_url.startswith("sqlite:///"):
        return Path(store_url[len("sqlite:///") :])
    raise StoreConfigError(
        f"ADWATCH_STORE: unsupported store URL {store_url!r} "
        "(use 'sqlite', 'sqlite:///PATH', 'es' or 'elasticsearch+http://HOST:PORT')")


def _store_url(settings: Any) -> str:
    return str(settings.get("ADWATCH_STORE") or "sqlite")


def spool_dir(settings: Any) -> Path:
    """Where writes the store could not take wait: beside the store, so two stores never share it."""
    home = settings.get("ADWATCH_HOME") or "data"
    url = elasticsearch_url(_store_url(settings), settings)
    if url is not None:
        name = re.sub(r"[^\w.-]+", "_", url.split("://", 1)[-1]).strip("_")
        return Path(home) / f"elasticsearch-{name}-{settings.get('ADWATCH_ES_PREFIX') or 'adwatch'}.spool"
    return sqlite_path(_store_url(settings), home).with_suffix(".spool")


def open_store(settings: Any, readonly: bool = False) -> Store:
    """``settings`` is anything with ``.get`` (Scrapy Settings or a dict)."""
    url = elasticsearch_url(_store_url(settings), settings)
    if url is not None:
        from index.elastic import ElasticStore

        return ElasticStore(
            url, prefix=str(settings.get("ADWATCH_ES_PREFIX") or "adwatch"),
            analyzer=str(settings.get("ADWATCH_ES_ANALYZER") or "standard"),
            shards=int(settings.get("ADWATCH_ES_SHARDS") or 1), replicas=int(settings.get("ADWATCH_ES_REPLICAS") or 0),
            timeout=float(settings.get("ADWATCH_ES_TIMEOUT") or 10.0), create=not readonly,
        )
    path = sqlite_path(_store_url(settings), settings.get("ADWATCH_HOME") or "data")
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
