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
    from index.open import check_data_folder, spool_dir, store_config
    from index.spool import Spool
    from index.writer import StoreWriter

    settings = load_settings()
    config = store_config(settings)
    check_data_folder(config.home, write=False)
    spool = Spool(spool_dir(config))
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


@index_app.command()
def check(full: Annotated[bool, typer.Option(help="SQLite: integrity_check (every index too), slower.")] = False,
          ) -> None:
    """Is the store sound? SQLite: the file, quick_check (or integrity_check) and the schema version;
    Elasticsearch: the cluster's and each index's health. One line per finding; exit 1 on damage."""
    from index.open import check_data_folder, spool_dir, store_config
    from index.spool import Spool

    config = store_config(load_settings())
    check_data_folder(config.home, write=False)
    if config.elasticsearch is not None:
        findings = _elastic_findings(config)
    else:
        from index.sqlite.admin import check_file

        findings = check_file(config.sqlite_file, full=full)
    spool = Spool(spool_dir(config))
    waiting = len(spool.pending())
    if waiting:
        findings.append((True, f"{spool.folder}: {waiting} batches waiting: run 'adwatch index flush'"))
    for sound, line in findings:
        (out if sound else err).print(f"{'ok' if sound else 'PROBLEM'}: {line}", markup=False, highlight=False,
                                      soft_wrap=True)
    if not all(sound for sound, _ in findings):
        raise typer.Exit(1)


def _elastic_findings(config: Any) -> list[tuple[bool, str]]:
    """The cluster's health, then each alias: does it exist, on an index of this schema, and is it green."""
    from index.elastic import ElasticStore
    from index.es_schema import KINDS

    store = ElasticStore(config.elasticsearch, prefix=config.es_prefix, timeout=config.es_timeout, create=False)
    findings: list[tuple[bool, str]] = []
    try:
        health = store.es.cluster.health()
    except Exception as exc:  # unreachable, refused, bad credentials: one line, whatever the client raised
        store.close()
        return [(False, f"{store.url}: cluster unreachable: {' '.join(str(exc).split())[:300]}")]
    try:
        status = str(health["status"])
        # Yellow: replicas not placed (one node); the data is whole. Red: a primary shard is missing.
        findings.append((status != "red", f"{store.url}: cluster {health['cluster_name']} is {status}"))
        for kind in KINDS:
            alias = store.layout.alias(kind)
            exists = bool(store.es.indices.exists_alias(name=alias))
            found = store.es.indices.get_alias(name=alias).body or {} if exists else {}
            if not found:
                findings.append((False, f"{alias}: missing (run 'adwatch index create')"))
                continue
            for index in sorted(found):
                state = str(store.es.cluster.health(index=index)["status"])
                current = index == store.layout.index(kind)
                findings.append((state != "red" and current, f"{alias} → {index}: {state}"
                                 + ("" if current else f"; this adwatch expects {store.layout.index(kind)}: "
                                                       "run 'adwatch index migrate' then 'adwatch index reindex'")))
    finally:
        store.close()
    return findings
