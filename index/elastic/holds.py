"""The Elasticsearch store's legal-hold part: one document per hold, released ones kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from index.elastic.base import MAX_RESULTS, ElasticBase, es_iso
from index.store import HOLD_FIELDS, HOLD_KINDS, hold_id


def _hold(source: dict[str, Any]) -> dict[str, Any]:
    hold = {name: source.get(name) for name in HOLD_FIELDS}
    hold["ads"] = list(hold["ads"] or [])
    for name in ("at", "released_at"):
        hold[name] = es_iso(hold[name])
    return hold


class ElasticHolds(ElasticBase):
    def add_hold(self, case: str, kind: str, value: str, ads: Sequence[str], by: str, at: str) -> dict[str, Any]:
        if kind not in HOLD_KINDS:
            raise ValueError(f"hold kind {kind!r} is none of {', '.join(HOLD_KINDS)}")
        self._ensure_indices()
        new_id = hold_id()
        hold = {"id": new_id, "case": case, "kind": kind, "value": value, "ads": sorted(set(ads)),
                "by": by, "at": at, "released_by": None, "released_at": None}
        with self._available():
            # Visible at once: a purge started right after must see it.
            self.es.create(index=self._alias("holds"), id=new_id, document=hold, refresh=True,
                           require_alias=True)
        return hold

    def holds(self, case: str | None = None, active: bool | None = None) -> list[dict[str, Any]]:
        self._ensure_indices()
        filters: list[dict[str, Any]] = []
        must_not: list[dict[str, Any]] = []
        if case is not None:
            filters.append({"term": {"case": case}})
        if active is True:
            must_not.append({"exists": {"field": "released_at"}})
        elif active is False:
            filters.append({"exists": {"field": "released_at"}})
        with self._available():
            self.es.indices.refresh(index=self._alias("holds"))
            found = self.es.search(index=self._alias("holds"), size=MAX_RESULTS,
                                   query={"bool": {"filter": filters, "must_not": must_not}},
                                   sort=[{"at": "asc"}, {"id": "asc"}])
        return [_hold(hit["_source"]) for hit in found["hits"]["hits"]]

    def release_holds(self, case: str, by: str, at: str) -> list[dict[str, Any]]:
        active = self.holds(case, active=True)
        released = [hold | {"released_by": by, "released_at": at} for hold in active]
        self._bulk(({"_op_type": "update", "_index": self._alias("holds"), "_id": hold["id"],
                     "doc": {"released_by": by, "released_at": at}} for hold in released), "hold release(s)")
        with self._available():
            self.es.indices.refresh(index=self._alias("holds"))
        return released
