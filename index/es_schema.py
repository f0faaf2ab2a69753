"""Elasticsearch indices of adwatch: names, index templates and explicit mappings.

Every index is versioned behind an alias (``adwatch-ads-v1`` behind ``adwatch-ads``), so a
mapping change is a new version, a reindex and an alias swap, never a broken index. The
mappings need nothing beyond a minimal node: no ``analysis-common`` (the text analyzer is
a setting, ``standard`` unless the cluster has ``swedish``), no scripts.

Search matches on ``body_words``/``title_words``: the text folded and split into words by
adwatch itself (``search_words``), exactly as the SQLite store's FTS5 index splits it,
so both stores match the same ads for the same query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from geo.gazetteer import fold

SCHEMA_VERSION = 1
KINDS = ("ads", "phones", "versions", "runs", "alerts", "saved", "audit", "holds")

_WORDS = re.compile(r"[^\W_]+")


def search_words(text: str) -> str:
    """Folded words separated by spaces: "Gävle, 070-174" → "gavle 070 174"."""
    return " ".join(_WORDS.findall(fold(text)))


@dataclass(frozen=True)
class Layout:
    """Index names for one prefix (tests use a prefix of their own)."""

    prefix: str = "adwatch"
    version: int = SCHEMA_VERSION

    def alias(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def index(self, kind: str, version: int | None = None) -> str:
        return f"{self.alias(kind)}-v{version or self.version}"

    def template(self, kind: str) -> str:
        return f"{self.alias(kind)}-template"


_KEYWORD = {"type": "keyword", "ignore_above": 1024}
_DATE = {"type": "date"}
_INT = {"type": "integer"}
_OFF = {"type": "object", "enabled": False}


def _text(analyzer: str) -> dict[str, Any]:
    return {"type": "text", "analyzer": analyzer, "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}


def mappings(kind: str, analyzer: str = "standard") -> dict[str, Any]:
    words = {"type": "text", "analyzer": "standard", "position_increment_gap": 100}
    if kind == "ads":
        properties: dict[str, Any] = {
            "id": _KEYWORD, "source": _KEYWORD, "url": {"type": "keyword", "index": False}, "site_id": _KEYWORD,
            "fetched_at": _DATE, "region": _KEYWORD, "timezone": _KEYWORD,
            "title": _text(analyzer), "text": {"type": "text", "analyzer": analyzer},
            "title_words": words, "body_words": words,
            "posted_at": _DATE, "first_seen_at": _DATE, "last_seen_at": _DATE, "removed_at": _DATE,
            "seen_date": _DATE,
            "location": _KEYWORD, "poster": _KEYWORD, "age": _INT, "price": {"type": "long"}, "currency": _KEYWORD,
            "phone_field": _KEYWORD, "images": {"type": "keyword", "index": False},
            "phones": _KEYWORD,
            "phone_details": {"properties": {
                "e164": _KEYWORD, "raw": _KEYWORD, "start": _INT, "end": _INT, "country": _KEYWORD,
                "line_type": _KEYWORD, "obfuscated": {"type": "boolean"}}},
            "contacts": {"properties": {
                "type": _KEYWORD, "value": _KEYWORD, "raw": _KEYWORD, "start": _INT, "end": _INT}},
            "towns": {"properties": {
                "name": _KEYWORD, "county": _KEYWORD, "lat": {"type": "float"}, "lon": {"type": "float"},
                "found_in": _KEYWORD, "start": _INT, "end": _INT}},
            "town_names": _KEYWORD, "counties": _KEYWORD,
            "town": _KEYWORD, "county": _KEYWORD, "lat": {"type": "float"}, "lon": {"type": "float"},
            "geo": {"type": "geo_point"}, "road": _KEYWORD, "road_km": {"type": "float"},
            "language": _KEYWORD,
            "indicators": {"properties": {
                "category": _KEYWORD, "phrase": _KEYWORD, "start": _INT, "end": _INT, "rule": _KEYWORD,
                "weight": {"type": "float"}}},
            "categories": _KEYWORD,
            "indicator_score": {"type": "float"},
            "evidence": _OFF,
            "content_hash": _KEYWORD, "version": _INT, "missing_count": _INT,
        }
    elif kind == "phones":
        properties = {"e164": _KEYWORD, "first_seen_at": _DATE, "first_town": _KEYWORD, "first_county": _KEYWORD,
                      "first_ad": _KEYWORD,
                      "last_seen_at": _DATE, "ads_count": _INT, "towns": _KEYWORD,
                      "purged_last_seen_at": _DATE}  # the last sighting among its purged ads (issue 15)
    elif kind == "versions":
        stored = {"type": "text", "index": False}
        properties = {"ad_id": _KEYWORD, "version": _INT, "content_hash": _KEYWORD, "title": stored,
                      "text": stored, "phones": _KEYWORD, "replaced_at": _DATE,
                      "evidence": _OFF}  # the records the version was read from (issue 15)
    elif kind == "runs":
        properties = {"id": {"type": "long"}, "source": _KEYWORD, "started_at": _DATE, "finished_at": _DATE,
                      "status": _KEYWORD, "pages": _INT, "new_ads": _INT, "updated_ads": _INT,
                      "removed_ads": _INT, "errors": _INT, "reason": {"type": "text", "index": False},
                      "stats": _OFF}
    elif kind == "alerts":
        properties = {"id": _KEYWORD, "key": _KEYWORD, "rule": _KEYWORD, "kind": _KEYWORD, "phone": _KEYWORD,
                      "ad": _KEYWORD, "town": _KEYWORD, "road": _KEYWORD, "km": {"type": "float"},
                      "created_at": _DATE, "details": _OFF, "deliveries": _OFF, "waiting": _KEYWORD,
                      "acked_at": _DATE, "acked_by": _KEYWORD}
    elif kind == "saved":  # saved searches (issue 14): the query itself is only kept, never searched
        properties = {"id": _KEYWORD, "owner": _KEYWORD, "name": {"type": "text", "index": False},
                      "query": _OFF, "created_at": _DATE}
    elif kind == "audit":  # the audit log (issue 14): document id = seq; params kept, never searched
        properties = {"seq": {"type": "long"}, "at": _DATE, "user": _KEYWORD, "action": _KEYWORD,
                      "params": _OFF, "result_count": {"type": "long"},
                      "prev_hash": _KEYWORD, "hash": _KEYWORD}
    elif kind == "holds":  # legal holds (issue 15): a case's claim on ads; released ones stay
        properties = {"id": _KEYWORD, "case": _KEYWORD, "kind": _KEYWORD, "value": _KEYWORD, "ads": _KEYWORD,
                      "by": _KEYWORD, "at": _DATE, "released_by": _KEYWORD, "released_at": _DATE}
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    # Unknown fields are kept in _source but not indexed: a newer crawler never breaks an older index.
    return {"dynamic": False, "properties": properties}


def template(layout: Layout, kind: str, *, shards: int = 1, replicas: int = 0,
             analyzer: str = "standard") -> dict[str, Any]:
    return {
        "index_patterns": [f"{layout.alias(kind)}-v*"],
        "priority": 200,
        "template": {
            "settings": {
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                # A malformed date or number loses that field, never the ad.
                "index.mapping.ignore_malformed": True,
            },
            "mappings": mappings(kind, analyzer),
        },
        "_meta": {"adwatch_schema": layout.version, "analyzer": analyzer},
    }
