"""The Elasticsearch store's plumbing: the client, the indices, bulk requests, and errors.

Every part of the store (``ads``, ``search``, ``phones``, ``alerts``, ``runs``, ``admin``)
is a mixin over this one client. A node that cannot be reached, or answers that it cannot
take the request now (``index.rules.unavailable``), raises ``StoreUnavailable`` so the store
stage spools the batch and the crawl goes on; a refusal of the data itself is a ``DocumentError``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError, helpers

from index.es_schema import KINDS, Layout, template
from index.rules import unavailable
from index.store import STORED_AD_FIELDS, StoreUnavailable

# The transport logs each failed attempt with a traceback; the store reports an unreachable
# node once, as StoreUnavailable, and the store stage logs one line for it.
logging.getLogger("elastic_transport").setLevel(logging.ERROR)
CONFLICT_RETRIES = 20
MAX_RESULTS = 10_000  # one page of phone_ads / runs; Elasticsearch's default result window
_LIST_FIELDS = ("towns", "phones", "phone_details", "contacts", "indicators", "images")


class DocumentError(ValueError):
    """Elasticsearch refused documents for their content (kept by the store stage)."""


class ElasticBase:
    def __init__(self, url: str, *, prefix: str = "adwatch", analyzer: str = "standard", shards: int = 1,
                 replicas: int = 0, timeout: float = 10.0, bulk_chunk: int = 500, create: bool = True) -> None:
        self.url = url
        self.layout = Layout(prefix)
        self.analyzer = analyzer
        self.shards, self.replicas = shards, replicas
        self.bulk_chunk = bulk_chunk
        # Few, quick retries: a node that is down should spool the batch soon, not stall the crawl.
        self.es = Elasticsearch(url, request_timeout=timeout, max_retries=2, retry_on_timeout=True)
        self.ready = not create  # indices made (or not ours to make)
        if create:
            try:
                self._ensure_indices()
            except StoreUnavailable:
                pass  # a node that is down now: writes spool until it is back, then the indices are made

    def _ensure_indices(self) -> None:
        if not self.ready:
            with self._available():
                self.create()
            self.ready = True

    def create(self) -> list[str]:
        """Templates, then every missing index with its alias; returns the indices made."""
        made = []
        for kind in KINDS:
            self.es.indices.put_index_template(
                name=self.layout.template(kind),
                **template(self.layout, kind, shards=self.shards, replicas=self.replicas, analyzer=self.analyzer))
            if not self.es.indices.exists_alias(name=self._alias(kind)):
                index = self.layout.index(kind)
                if not self.es.indices.exists(index=index):
                    self.es.indices.create(index=index, aliases={self._alias(kind): {"is_write_index": True}})
                    made.append(index)
                else:
                    self.es.indices.put_alias(index=index, name=self._alias(kind))
        if made:
            self.es.cluster.health(index=",".join(made), wait_for_status="yellow", timeout="30s")
        return made

    # --- plumbing ---------------------------------------------------------------
    def _available(self) -> _Guard:
        return _Guard(self.url)

    def _alias(self, kind: str) -> str:
        return self.layout.alias(kind)

    def _send(self, actions: Iterable[dict[str, Any]], what: str,
              **options: Any) -> Iterator[tuple[bool, str, dict[str, Any]]]:
        """Bulk-send ``actions``; yields (ok, operation, result) per document. A busy or failing
        node raises StoreUnavailable (keep the data, retry later)."""
        with self._available():
            for ok, result in helpers.streaming_bulk(self.es, actions, chunk_size=self.bulk_chunk, max_retries=5,
                                                     initial_backoff=0.5, max_backoff=10, raise_on_error=False,
                                                     **options):
                (op, info), = result.items()
                if not ok and unavailable(info.get("status")):
                    raise StoreUnavailable(f"{self.url}: {what}: {info.get('error')}")
                yield ok, op, info

    def _failures(self, actions: Iterable[dict[str, Any]], what: str) -> list[dict[str, Any]]:
        """Send actions; return the documents refused for their content, other than "already
        exists" (INSERT OR IGNORE for a version or a number)."""
        return [{"id": info.get("_id"), "status": info.get("status"), "error": info.get("error")}
                for ok, op, info in self._send(actions, what)
                if not ok and not (op == "create" and info.get("status") == 409)]

    def _bulk(self, actions: Iterable[dict[str, Any]], what: str) -> None:
        """Send actions; documents refused for their content are a DocumentError."""
        refused(self._failures(actions, what), what)

    def _create_each(self, actions: list[dict[str, Any]], what: str, **options: Any) -> tuple[set[str], list[str]]:
        """Bulk ``create`` actions: (ids created, ids that already existed)."""
        created: set[str] = set()
        existing: list[str] = []
        for ok, _, info in self._send(actions, what, **options):
            if ok:
                created.add(info["_id"])
            elif info.get("status") == 409:
                existing.append(info["_id"])
            else:
                raise DocumentError(f"{what} refused {info.get('_id')}: {info.get('error')}")
        return created, existing

    def _sources(self, kind: str, ids: list[str], fields: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Documents by id (with their ``_seq_no`` and ``_primary_term``), 1000 per request."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            with self._available():
                found = self.es.mget(index=self._alias(kind), ids=chunk, source_includes=fields)
            for doc in found["docs"]:
                if doc.get("found"):
                    out[doc["_id"]] = doc["_source"] | {"_seq_no": doc.get("_seq_no"),
                                                        "_primary_term": doc.get("_primary_term")}
        return out

    def _get(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        """One document's source, None if there is none."""
        try:
            with self._available():
                return dict(self.es.get(index=self._alias(kind), id=doc_id)["_source"])
        except NotFoundError:
            return None

    @staticmethod
    def _ad(source: dict[str, Any]) -> dict[str, Any]:
        """A stored document as an Ad dict (search-only fields dropped, lists never None)."""
        ad = {name: source.get(name) for name in STORED_AD_FIELDS}
        for name in _LIST_FIELDS:
            ad[name] = ad[name] or []
        return ad


def refused(failures: list[dict[str, Any]], what: str) -> None:
    if failures:
        raise DocumentError(f"{len(failures)} {what} refused: {failures[:3]}")


def es_iso(value: str | None) -> str | None:
    """Elasticsearch's "2026-11-01T10:00:00.000Z" → adwatch's "2026-11-01T10:00:00Z"."""
    if value and value.endswith(".000Z"):
        return value[:-5] + "Z"
    return value


class _Guard:
    """Turns "the node is not there" into StoreUnavailable; other errors pass through."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, StoreUnavailable):
            return False
        if isinstance(exc, TransportConnectionError | ConnectionTimeout):
            raise StoreUnavailable(f"{self.url}: unreachable ({type(exc).__name__})") from exc
        if isinstance(exc, ApiError) and unavailable(exc.meta.status):
            raise StoreUnavailable(f"{self.url}: {exc.meta.status} {exc.message}") from exc
        if isinstance(exc, helpers.BulkIndexError | TransportError) and not isinstance(exc, ApiError):
            raise StoreUnavailable(f"{self.url}: {exc}") from exc
        return False
