"""The Elasticsearch store's alerts part: stored once per key, acknowledged, delivered per channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from elasticsearch import ApiError, NotFoundError

from index.elastic.base import CONFLICT_RETRIES, MAX_RESULTS, ElasticBase, es_iso
from index.store import ALERT_FIELDS, StoreUnavailable, waiting_channels


class ElasticAlerts(ElasticBase):
    # Alert writes refresh at once: there are few, and "alerts list" right after a crawl
    # or "ack" must show them (waiting for the next refresh would cost a second each).
    @staticmethod
    def _alert_doc(alert: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {name: alert.get(name) for name in ALERT_FIELDS}
        doc["deliveries"] = doc["deliveries"] or {}
        doc["details"] = doc["details"] or {}
        doc["waiting"] = waiting_channels(doc["deliveries"])
        return doc

    def add_alerts(self, alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``op_type=create`` on the id (derived from the key): a second raise is a 409, not a copy."""
        if not alerts:
            return []
        self._ensure_indices()
        actions = [{"_op_type": "create", "_index": self._alias("alerts"), "_id": alert["id"],
                    "_source": self._alert_doc(alert)} for alert in alerts]
        created, _ = self._create_each(actions, "alerts", refresh=True)
        return [dict(alert) for alert in alerts if alert["id"] in created]

    @staticmethod
    def _alert(source: dict[str, Any]) -> dict[str, Any]:
        return {name: source.get(name) for name in ALERT_FIELDS} | {
            "created_at": es_iso(source.get("created_at")), "acked_at": es_iso(source.get("acked_at"))}

    def _find_alerts(self, query: dict[str, Any], order: str, limit: int,
                     after: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        self._ensure_indices()
        extra: dict[str, Any] = {"search_after": list(after)} if after else {}
        try:
            with self._available():
                self.es.indices.refresh(index=self._alias("alerts"))
                found = self.es.search(index=self._alias("alerts"), query=query, size=min(limit, MAX_RESULTS),
                                       sort=[{"created_at": order}, {"id": "asc"}], **extra)
        except NotFoundError:  # an index made before alerts existed, opened read-only: no alerts yet
            return []
        return [self._alert(hit["_source"]) for hit in found["hits"]["hits"]]

    def alerts(self, since: str | None = None, rule: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = []
        if since:
            filters.append({"range": {"created_at": {"gte": since}}})
        if rule:
            filters.append({"term": {"rule": rule}})
        return self._find_alerts({"bool": {"filter": filters}}, "desc", limit)

    def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        self._ensure_indices()
        found = self._get("alerts", alert_id)
        return self._alert(found) if found is not None else None

    def _change_alert(self, alert_id: str, change: Any) -> bool:
        """Read-modify-write one alert under optimistic concurrency (``if_seq_no``)."""
        self._ensure_indices()
        for _ in range(CONFLICT_RETRIES):
            try:
                with self._available():
                    found = self.es.get(index=self._alias("alerts"), id=alert_id)
            except NotFoundError:
                return False
            doc = self._alert_doc(change(dict(found["_source"])))
            try:
                with self._available():
                    self.es.index(index=self._alias("alerts"), id=alert_id, document=doc, refresh=True,
                                  if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"])
                return True
            except ApiError as exc:
                if exc.meta.status != 409:
                    raise
        raise StoreUnavailable(f"{self.url}: alert {alert_id} kept changing under us")

    def ack_alert(self, alert_id: str, by: str, at: str) -> bool:
        return self._change_alert(alert_id, lambda doc: doc | {"acked_at": at, "acked_by": by})

    def set_delivery(self, alert_id: str, channel: str, delivery: dict[str, Any]) -> None:
        if not self._change_alert(alert_id, lambda doc: doc | {
                "deliveries": (doc.get("deliveries") or {}) | {channel: delivery}}):
            raise KeyError(f"no alert {alert_id}")

    def undelivered_alerts(self, limit: int = 1000, after: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        return self._find_alerts({"exists": {"field": "waiting"}}, "asc", limit, after)
