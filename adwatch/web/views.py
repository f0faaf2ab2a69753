"""What each page and API endpoint shows, read from the store and audited.

One function per view; the HTML pages (``pages.py``) and the REST API (``api.py``) both call
these, so both show the same data and write the same audit entries.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from adwatch.core.clock import iso, utcnow
from adwatch.evidence.cases import CaseAd, case_ad
from adwatch.evidence.refs import ArchivePlace
from adwatch.web import audit
from adwatch.web.highlight import Segment, segments
from adwatch.web.params import BadParameter, ParsedSearch, describe
from index.query import SearchQuery, SearchResult
from index.store import Store
from index.trends import Trend, TrendQuery, shape

_E164 = re.compile(r"\+[1-9][0-9]{5,14}")
EXPORT_MAX = 10_000  # rows of one export; more: narrow the search
RELATED_MAX = 50
PHONE_ADS_MAX = 500
EXPORT_FIELDS = ("id", "source", "url", "title", "text", "posted_at", "first_seen_at", "last_seen_at", "removed_at",
                 "town", "county", "road", "road_km", "language", "indicator_score", "phones", "contacts",
                 "categories")


class NotFound(LookupError):
    pass


def seen(ad: dict[str, Any]) -> str:
    return str(ad.get("posted_at") or ad.get("first_seen_at") or "")


def categories(ad: dict[str, Any]) -> list[str]:
    return sorted({str(i.get("category")) for i in ad.get("indicators") or [] if isinstance(i, dict)})


# --- search ------------------------------------------------------------------------
def search(store: Store, user: str, parsed: ParsedSearch, facets: bool = False) -> SearchResult:
    """One page of hits and their total; the facet counts only when asked (they cost more than
    the page on a wide search, so the search page fetches them in a second request)."""
    parsed.query.facets = facets
    result = SearchResult(0, []) if parsed.matches_nothing else store.search(parsed.query)
    audit.record(store, user, "search", describe(parsed.form) | ({"facets": True} if facets else {}), result.total)
    return result


def facet_counts(store: Store, user: str, parsed: ParsedSearch) -> SearchResult:
    """The facet counts of a search (no hits): the search page's second request."""
    query = SearchQuery.from_dict(parsed.query.to_dict() | {"limit": 0, "offset": 0, "facets": True})
    result = SearchResult(0, []) if parsed.matches_nothing else store.search(query)
    audit.record(store, user, "search.facets", describe(parsed.form), result.total)
    return result


def export(store: Store, user: str, parsed: ParsedSearch, fmt: str) -> tuple[str, int]:
    """The whole result set (at most EXPORT_MAX ads) as CSV or JSON: (body, rows)."""
    query = SearchQuery.from_dict(parsed.query.to_dict() | {"limit": EXPORT_MAX, "offset": 0, "facets": False})
    hits = [] if parsed.matches_nothing else store.search(query).hits
    rows = [{name: _export_value(ad, name) for name in EXPORT_FIELDS} for ad in hits]
    audit.record(store, user, "export", describe(parsed.form) | {"format": fmt}, len(rows))
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1), len(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buffer.getvalue(), len(rows)


def _export_value(ad: dict[str, Any], name: str) -> Any:
    if name == "categories":
        return categories(ad)
    if name == "contacts":
        return [f"{c.get('type')}:{c.get('value')}" for c in ad.get("contacts") or [] if isinstance(c, dict)]
    return ad.get(name)


def _csv_cell(value: Any) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula (CSV injection): such
    text, written by strangers, gets a leading apostrophe."""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    text = "" if value is None else str(value)
    if _E164.fullmatch(text):  # a number as adwatch wrote it: no formula, and it must stay a number
        return text
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


# --- one ad ------------------------------------------------------------------------
@dataclass
class AdView:
    ad: dict[str, Any]
    title: list[Segment]
    text: list[Segment]
    versions: list[dict[str, Any]]
    related: list[tuple[dict[str, Any], list[str]]]  # other ads, and what they share with this one
    categories: list[str] = field(default_factory=list)
    evidence: CaseAd | None = None  # its archived records and its versions', each checked now

    @property
    def lang(self) -> str | None:
        """The ad's language as an HTML lang value (WCAG 3.1.2), if it looks like one."""
        value = self.ad.get("language")
        return value if isinstance(value, str) and re.fullmatch(r"[a-z]{2,3}", value) else None


def ad_view(store: Store, user: str, ad_id: str, place: ArchivePlace | None = None) -> AdView:
    ad = store.get_ad(ad_id)
    if ad is None:
        audit.record(store, user, "ad.view", {"id": ad_id}, 0)
        raise NotFound(f"no ad {ad_id!r}")
    shared: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for phone in [p for p in ad.get("phones") or [] if isinstance(p, str)]:
        for other in store.search(SearchQuery(phone=phone, limit=RELATED_MAX, facets=False)).hits:
            if other["id"] != ad_id:
                shared.setdefault(other["id"], (other, []))[1].append(phone)
    for contact in ad.get("contacts") or []:
        if not isinstance(contact, dict):  # stored data from strangers: skip what is not a fact
            continue
        value = str(contact.get("value") or "")
        if contact.get("type") == "whatsapp" or len(value) < 3:  # numbers are matched above
            continue
        phrase = '"' + value.replace('"', " ") + '"'
        try:
            found = store.search(SearchQuery(text=phrase, limit=RELATED_MAX, facets=False)).hits
        except ValueError:  # a handle with nothing searchable in it
            continue
        for other in found:
            if other["id"] != ad_id:
                shared.setdefault(other["id"], (other, []))[1].append(f"{contact.get('type')}: {value}")
    related = sorted(shared.values(), key=lambda pair: seen(pair[0]), reverse=True)[:RELATED_MAX]
    head, body = segments(ad)
    audit.record(store, user, "ad.view", {"id": ad_id}, 1)
    evidence = case_ad(store, place, ad) if place is not None else None
    versions = evidence.versions if evidence is not None else store.ad_versions(ad_id)
    return AdView(ad, head, body, versions, related, categories(ad), evidence)


# --- evidence ----------------------------------------------------------------------
def evidence(store: Store, user: str, ad_id: str, place: ArchivePlace) -> CaseAd:
    """An ad's archived records and its versions', each checked where it lies (the API's view)."""
    ad = store.get_ad(ad_id)
    audit.record(store, user, "evidence.show", {"id": ad_id}, 0 if ad is None else 1)
    if ad is None:
        raise NotFound(f"no ad {ad_id!r}")
    return case_ad(store, place, ad)


def evidence_dict(item: CaseAd) -> dict[str, Any]:
    return {"id": item.ad["id"], "version": item.ad.get("version"),
            "records": [c.to_dict() for c in item.current],
            "versions": [{"version": v.version, "replaced_at": v.replaced_at,
                          "records": [c.to_dict() for c in v.checks]} for v in item.earlier]}


def case_file(store: Store, user: str, ad_id: str, place: ArchivePlace, folder: Path) -> Path:
    """The ad's case file (WACZ), written into ``folder``; the download is audited before it is
    answered (no entry: AuditUnavailable, 503). The caller removes the file once it is sent."""
    from adwatch.evidence.cases import Selector, build_case
    from adwatch.evidence.wacz import write_case

    ad = store.get_ad(ad_id)
    if ad is None:
        audit.record(store, user, "evidence.download", {"id": ad_id}, 0)
        raise NotFound(f"no ad {ad_id!r}")
    case = build_case(store, place, Selector(ids=(ad_id,)))
    audit.record(store, user, "evidence.download", {"id": ad_id}, 1)
    from adwatch.core.private import ensure_private_dir

    ensure_private_dir(folder)
    target = Path(tempfile.mkdtemp(prefix="case-", dir=folder)) / "case.wacz"
    write_case(case, place, target, f"web:{user}")
    return target


# --- one number --------------------------------------------------------------------
@dataclass
class Stop:
    town: str
    lat: float | None
    lon: float | None
    first: str
    last: str
    ads: int
    road: str | None
    road_km: float | None


@dataclass
class PhoneView:
    e164: str
    record: dict[str, Any] | None
    ads: list[dict[str, Any]]  # newest first, at most PHONE_ADS_MAX
    total: int
    stops: list[Stop]  # the towns in the order it reached them
    sources: dict[str, int]
    other_numbers: dict[str, int]
    handles: dict[str, int]


def phone_view(store: Store, user: str, e164: str) -> PhoneView:
    record = store.phone_record(e164)
    ads = sorted(store.phone_ads(e164), key=seen)
    if record is None and not ads:
        audit.record(store, user, "phone.view", {"phone": e164}, 0)
        raise NotFound(f"the number {e164} is in no ad")
    stops: list[Stop] = []
    for ad in ads:
        town = ad.get("town")
        if not town:
            continue
        if stops and stops[-1].town == town:
            stops[-1].last = seen(ad)
            stops[-1].ads += 1
        else:
            stops.append(Stop(str(town), ad.get("lat"), ad.get("lon"), seen(ad), seen(ad), 1, ad.get("road"),
                              ad.get("road_km")))
    sources = Counter(str(ad.get("source")) for ad in ads)
    others = Counter(p for ad in ads for p in ad.get("phones") or [] if p != e164)
    handles = Counter(f"{c.get('type')}: {c.get('value')}" for ad in ads for c in ad.get("contacts") or []
                      if isinstance(c, dict) and c.get("value") != e164)
    audit.record(store, user, "phone.view", {"phone": e164}, len(ads))
    return PhoneView(e164, record, list(reversed(ads))[:PHONE_ADS_MAX], len(ads), stops, dict(sources.most_common()),
                     dict(others.most_common(50)), dict(handles.most_common(50)))


# --- map and trends ----------------------------------------------------------------
@dataclass
class TownCount:
    town: str
    lat: float
    lon: float
    value: int


def map_counts(store: Store, user: str, region: str, metric: str, days: int) -> list[TownCount]:
    """Towns with their count of ``metric`` (ads or new_phones) over the last ``days``."""
    from geo.gazetteer import gazetteer

    since = utcnow() - timedelta(days=days)
    counts = store.trend_counts(TrendQuery(metric=metric, by="town", interval="month", since=since))  # type: ignore[arg-type]
    totals: Counter[str] = Counter()
    for (_, town), count in counts.items():
        totals[town] += count
    places = gazetteer(region)
    found = []
    for town, count in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        place = places.resolve(town)
        if place is not None:
            found.append(TownCount(place.name, place.lat, place.lon, count))
    audit.record(store, user, "map.view", {"metric": metric, "days": days}, len(found))
    return found


def trends(store: Store, user: str, query: TrendQuery, top: int, params: dict[str, Any]) -> Trend:
    trend = shape(query, store.trend_counts(query), top=top, today=utcnow().date())
    audit.record(store, user, "trends.view", params, len(trend.series))
    return trend


# --- alerts and saved searches --------------------------------------------------
def alerts(store: Store, user: str, rule: str | None, status: str, days: int, limit: int) -> list[dict[str, Any]]:
    since = iso(utcnow() - timedelta(days=days))
    # Filtered by status before the limit: the newest alerts may all be acknowledged.
    found = store.alerts(since=since, rule=rule or None, limit=limit if status == "all" else 10 * limit)
    if status == "open":
        found = [a for a in found if not a.get("acked_at")][:limit]
    elif status == "acked":
        found = [a for a in found if a.get("acked_at")][:limit]
    audit.record(store, user, "alerts.view", {"rule": rule, "status": status, "days": days}, len(found))
    return found


def ack_alert(store: Store, user: str, alert_id: str) -> bool:
    done = store.ack_alert(alert_id, by=user, at=iso(utcnow()))
    audit.record(store, user, "alert.ack", {"id": alert_id}, 1 if done else 0)
    return done


def saved_searches(store: Store, user: str, admin: bool) -> list[dict[str, Any]]:
    found = store.saved_searches(None if admin else user)
    audit.record(store, user, "saved.view", {"all": admin}, len(found))
    return found


def save_search(store: Store, user: str, name: str, parsed: ParsedSearch) -> dict[str, Any]:
    if parsed.matches_nothing:  # saved as it stands it would match every ad: an alert for each
        raise BadParameter("query", "this search can match no ad (no source of that kind, or no town that "
                           "close to the road): change it before saving")
    query = SearchQuery.from_dict(parsed.query.to_dict() | {"limit": 20, "offset": 0})
    saved = store.save_search(user, name[:200], query.to_dict() | {"form": describe(parsed.form)}, iso(utcnow()))
    audit.record(store, user, "saved.create", {"name": name[:200], **describe(parsed.form)}, 1)
    return saved


def delete_saved(store: Store, user: str, search_id: str, admin: bool) -> bool:
    done = store.delete_saved_search(search_id, owner=None if admin else user)
    audit.record(store, user, "saved.delete", {"id": search_id}, 1 if done else 0)
    return done


def audit_entries(store: Store, user: str, who: str | None, action: str | None, since: str | None,
                  limit: int, offset: int) -> list[dict[str, Any]]:
    found = store.audit_entries(user=who or None, since=since or None, action=action or None, limit=limit,
                                offset=offset)
    audit.record(store, user, "audit.view", {"user": who, "action": action, "since": since}, len(found))
    return found
