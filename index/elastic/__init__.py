"""The Elasticsearch store: the ``Store`` protocol on an Elasticsearch 8 cluster.

- Ads, the phone registry, ad versions, alerts and crawl runs are versioned indices behind
  aliases (``index/es_schema.py``); ``create`` makes them from index templates.
- Writes go through ``helpers.streaming_bulk`` with idempotent ids (the ad id), retried
  with backoff on 429; a node that cannot be reached (or answers 5xx) raises
  ``StoreUnavailable`` so the store stage spools the batch and the crawl goes on.
- One module per part of the ``Store`` protocol (``index/store.py``), each a mixin over the
  one client of ``base.py``; the data rules they keep are ``index/rules.py``.
"""

from __future__ import annotations

from index.elastic.admin import ElasticAdmin
from index.elastic.ads import ElasticAds
from index.elastic.alerts import ElasticAlerts
from index.elastic.audit import ElasticAudit
from index.elastic.base import DocumentError
from index.elastic.holds import ElasticHolds
from index.elastic.phones import ElasticPhoneRegistry
from index.elastic.retention import ElasticRetention
from index.elastic.runs import ElasticRuns
from index.elastic.saved import ElasticSavedSearches
from index.elastic.search import ElasticAdSearch


class ElasticStore(ElasticAds, ElasticAdSearch, ElasticPhoneRegistry, ElasticAlerts, ElasticRuns, ElasticSavedSearches,
                   ElasticAudit, ElasticHolds, ElasticRetention, ElasticAdmin):
    """Every part of the Store on one cluster: ``ElasticStore(url, prefix=…, analyzer=…, shards=…,
    replicas=…, timeout=…, bulk_chunk=…, create=…)``."""


__all__ = ["DocumentError", "ElasticStore"]
