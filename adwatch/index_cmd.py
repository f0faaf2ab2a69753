"""``adwatch index …``: create, migrate, inspect, reindex the store, and flush its spool."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from adwatch.output import err, fail, out, print_json
from adwatch.settings import load_settings

index_app = typer.Typer(help="The store itself: create, migrate, stats, reindex, flush.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, on stdout.")]


def _store(create: bool = True) -> Any:
    from index.open import open_store, store_config

    return open_store(store_config(load_settings()), readonly=not create)


def _is_elastic(store: Any) -> bool:
    from index.elastic import ElasticStore

    return isinstance(store, ElasticStore)


@index_app.command()
def create() -> None:
    """Create the store (Elasticsearch: index templates, versioned indices, aliases)."""
    store = _store()
    if _is_elastic(store):
        made = store.create()
        err.print(f"{store.url}: " + (f"created {', '.join(made)}" if made else "every index already exists"))
    else:
        err.print(f"{store.path}: schema v{store.schema_version()}")
    store.close()


@index_app.command()
def migrate() -> None:
    """Bring the store to this version's schema (SQLite migrations; Elasticsearch templates)."""
    store = _store()
    if _is_elastic(store):
        store.create()  # templates are rewritten; existing indices keep their mapping until a reindex
        err.print(f"{store.url}: templates at schema v{store.layout.version}; run 'adwatch index reindex' "
                  "to rebuild existing indices with new settings")
    else:
        store.migrate()
        err.print(f"{store.path}: schema v{store.schema_version()}")
    store.close()


@index_app.command()
def stats(as_json: JsonOpt = False) -> None:
    """Indices, documents and pending spooled batches."""
    from index.open import spool_dir, store_config
    from index.spool import Spool

    settings = load_settings()
    store = _store(create=False)
    if _is_elastic(store):
        store.refresh()
        info: dict[str, Any] = {"store": store.url, "indices": store.index_stats()}
    else:
        summary = store.summary()
        info = {"store": str(store.path), "schema": store.schema_version(),
                "size_bytes": store.path.stat().st_size, "ads": summary["ads"], "phones": summary["phones"]}
    store.close()
    spool = Spool(spool_dir(store_config(settings)))
    info["spooled_batches"] = len(spool.pending())
    info["rejected_records"] = len(list(spool.rejected_folder.glob("*.json"))) if spool.rejected_folder.is_dir() else 0
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        if key == "indices":
            for alias, detail in value.items():
                out.print(f"{alias:>22}  {', '.join(detail['indices']) or '(none)'}  {detail['docs']} docs")
        else:
            out.print(f"{key:>22}  {value}")


@index_app.command()
def reindex() -> None:
    """Elasticsearch: rebuild every index from the current template and swap the aliases.

    Run it after changing the analyzer, shards or replicas, while no crawl is writing."""
    store = _store()
    if not _is_elastic(store):
        fail("reindex is for the Elasticsearch store (SQLite has 'adwatch index migrate')")
        raise typer.Exit(2)
    for kind, (old, new, copied) in store.reindex().items():
        err.print(f"{kind}: {old} → {new} ({copied} documents)")
    store.close()


@index_app.command()
def flush() -> None:
    """Write the batches spooled while the store was unavailable, in order, now."""
    from index.open import spool_dir, store_config
    from index.spool import Spool
    from index.writer import StoreWriter

    settings = load_settings()
    spool = Spool(spool_dir(store_config(settings)))
    pending = len(spool.pending())
    if not pending:
        err.print(f"{spool.folder}: nothing spooled")
        return
    from alerts.engine import AlertEngine
    from alerts.realtime import RealTimeAlerts

    store = _store()
    writer = StoreWriter(store, spool)
    engine = AlertEngine.from_settings(settings, store)
    if engine is not None:  # replayed ads and spooled checks go through the rules, as in a crawl
        RealTimeAlerts(engine, writer).listen()
    done = writer.replay() and not spool.pending()
    store.close()
    left = len(spool.pending())
    err.print(f"{spool.folder}: {pending - left} of {pending} batches written "
              f"({writer.counts['rejected']} records rejected)")
    if not done:
        fail(f"{left} batches still spooled: the store is unavailable")
        raise typer.Exit(1)
