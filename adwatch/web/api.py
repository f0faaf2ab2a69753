"""The REST API under /api/v1: the pages' capabilities as JSON, for scripts and other tools.

Authenticate with ``Authorization: Bearer adw_…`` (``adwatch users token-create``) or a
browser session (then a POST needs the ``X-CSRF-Token`` header). Errors are JSON
``{"error": "...", "status": N}`` with 400 (a parameter that cannot be used, named), 401,
403, 404 or 503 (the store or the audit log cannot be written).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from adwatch.web import views
from adwatch.web.auth import Principal, check_csrf, require_admin, require_user
from adwatch.web.pages import case_file_answer, export_answer, normal_number
from adwatch.web.params import BadParameter, parse_search
from adwatch.web.stores import request_store
from adwatch.web.trend_params import parse_trends
from index.store import Store

router = APIRouter()
SUMMARY_FIELDS = ("id", "source", "url", "title", "posted_at", "first_seen_at", "last_seen_at", "removed_at", "town",
                  "county", "road", "road_km", "language", "indicator_score", "phones")


def summary(ad: dict[str, Any]) -> dict[str, Any]:
    return {name: ad.get(name) for name in SUMMARY_FIELDS} | {"categories": views.categories(ad)}


@router.get("/me", summary="Who this token or session belongs to")
def me(who: Principal = Depends(require_user)) -> dict[str, Any]:
    return {"name": who.name, "role": who.role, "via": who.via}


@router.get("/search", summary="Search ads (the search page's parameters: q, town, county, near, km, road, "
                               "road_km, since, until, source, kind, lang, cat, min_score, phone, sort, page, "
                               "per_page; facets=true adds the counts per town, county, source, language "
                               "and category)")
def search(request: Request, facets: bool = False, who: Principal = Depends(require_user),
           store: Store = Depends(request_store)) -> dict[str, Any]:
    parsed = parse_search(request.query_params, request.app.state.context)
    result = views.search(store, who.name, parsed, facets=facets)
    return {"total": result.total, "page": parsed.page, "per_page": parsed.per_page,
            "hits": [summary(ad) for ad in result.hits], **({"facets": result.facets} if facets else {})}


@router.get("/search/export", summary="The whole result set (at most 10,000 ads) as CSV or JSON")
def export(request: Request, format: str = "json", who: Principal = Depends(require_user),
           store: Store = Depends(request_store)) -> Response:
    return export_answer(request, format, who, store)


@router.get("/ads/{ad_id:path}/evidence.wacz", summary="The ad's case file: its archived records, versions and "
                                                      "a manifest, as a WACZ", response_class=Response)
def evidence_wacz(request: Request, ad_id: str, who: Principal = Depends(require_user),
                  store: Store = Depends(request_store)) -> Response:
    return case_file_answer(request, ad_id, who, store)


@router.get("/ads/{ad_id:path}/evidence", summary="The ad's archived records (WARC file, offset, SHA-256, "
                                                  "record id) and its versions', each checked now: ok, "
                                                  "changed or missing")
def evidence(request: Request, ad_id: str, who: Principal = Depends(require_user),
             store: Store = Depends(request_store)) -> dict[str, Any]:
    return views.evidence_dict(views.evidence(store, who.name, ad_id, request.app.state.config.evidence))


@router.get("/ads/{ad_id:path}", summary="One ad: its facts, versions and the ads sharing its numbers or handles")
def ad(request: Request, ad_id: str, who: Principal = Depends(require_user),
       store: Store = Depends(request_store)) -> dict[str, Any]:
    view = views.ad_view(store, who.name, ad_id)
    return {"ad": view.ad, "versions": view.versions,
            "related": [{"ad": summary(other), "shared": shared} for other, shared in view.related]}


@router.get("/phones/{e164}", summary="One number: its ads, the towns it travelled through, other numbers")
def phone(request: Request, e164: str, who: Principal = Depends(require_user),
          store: Store = Depends(request_store)) -> dict[str, Any]:
    view = views.phone_view(store, who.name, normal_number(e164, request.app.state.config.region))
    return {"e164": view.e164, "registry": view.record, "total": view.total,
            "ads": [summary(a) for a in view.ads], "route": [asdict(s) for s in view.stops],
            "sources": view.sources, "other_numbers": view.other_numbers, "handles": view.handles}


@router.get("/map", summary="Towns with their count of ads or new numbers over the last days")
def map_(request: Request, metric: str = "ads", days: int = 30, who: Principal = Depends(require_user),
         store: Store = Depends(request_store)
         ) -> dict[str, Any]:
    if metric not in ("ads", "new_phones"):
        raise BadParameter("metric", f"{metric!r} is not ads or new_phones")
    if not 1 <= days <= 3650:
        raise BadParameter("days", "give a number of days from 1 to 3650")
    towns = views.map_counts(store, who.name, request.app.state.config.region, metric, days)
    return {"metric": metric, "days": days, "towns": [asdict(t) for t in towns]}


@router.get("/trends", summary="Series per town or county (metric, by, interval, since, until, town, top)")
def trends(request: Request, who: Principal = Depends(require_user),
           store: Store = Depends(request_store)) -> dict[str, Any]:
    parsed = parse_trends(request.query_params, request.app.state.config.region)
    return views.trends(store, who.name, parsed.query, parsed.top, parsed.form).as_dict()


@router.get("/alerts", summary="Alerts of the last days (status open, acked or all; rule)")
def alerts(request: Request, rule: str = "", status: str = "open", days: int = 30, limit: int = 500,
           who: Principal = Depends(require_user),
           store: Store = Depends(request_store)) -> dict[str, Any]:
    if status not in ("open", "acked", "all"):
        raise BadParameter("status", f"{status!r} is not open, acked or all")
    if not 1 <= days <= 3650 or not 1 <= limit <= 5000:
        raise BadParameter("days" if not 1 <= days <= 3650 else "limit", "out of range")
    found = views.alerts(store, who.name, rule[:100] or None, status, days, limit)
    return {"alerts": found}


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge an alert")
async def ack(request: Request, alert_id: str, who: Principal = Depends(require_user),
              store: Store = Depends(request_store)) -> dict[str, Any]:
    await check_csrf(request, who)
    done = await run_in_threadpool(views.ack_alert, store, who.name, alert_id[:64])
    if not done:
        raise views.NotFound(f"no alert {alert_id[:64]!r}")
    return {"id": alert_id, "acked_by": who.name}


@router.get("/saved-searches", summary="Your saved searches (an admin sees everyone's)")
def saved(request: Request, who: Principal = Depends(require_user),
          store: Store = Depends(request_store)) -> dict[str, Any]:
    return {"saved_searches": views.saved_searches(store, who.name, who.admin)}


@router.post("/saved-searches", summary='Save a search: {"name": "...", "query": "q=...&town=..."}')
async def save(request: Request, who: Principal = Depends(require_user),
               store: Store = Depends(request_store)) -> dict[str, Any]:
    await check_csrf(request, who)
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise BadParameter("body", "not JSON") from None
    if not isinstance(body, dict) or not str(body.get("name") or "").strip():
        raise BadParameter("name", "give the saved search a name")
    if not isinstance(body.get("query", ""), str):
        raise BadParameter("query", "give the search's URL parameters as a string (q=...&town=...)")
    parsed = parse_search(QueryParams(body.get("query") or ""), request.app.state.context)
    return await run_in_threadpool(views.save_search, store, who.name, str(body["name"]).strip(), parsed)


@router.delete("/saved-searches/{search_id}", summary="Delete a saved search")
async def delete_saved(request: Request, search_id: str, who: Principal = Depends(require_user),
                       store: Store = Depends(request_store)) -> dict[str, Any]:
    await check_csrf(request, who)
    done = await run_in_threadpool(views.delete_saved, store, who.name, search_id[:64], who.admin)
    if not done:
        raise views.NotFound(f"no saved search {search_id[:64]!r} of yours")
    return {"deleted": search_id}


@router.get("/audit", summary="The audit log, newest first (admin)")
def audit(request: Request, user: str = "", action: str = "", since: str = "", limit: int = 100, offset: int = 0,
          who: Principal = Depends(require_admin),
          store: Store = Depends(request_store)) -> dict[str, Any]:
    from adwatch.core.clock import iso
    from adwatch.lookup import moment

    if not 1 <= limit <= 1000 or not 0 <= offset <= 1_000_000:
        raise BadParameter("limit" if not 1 <= limit <= 1000 else "offset", "out of range")
    try:
        when = iso(moment("since", since)) if since else None
    except ValueError as exc:
        raise BadParameter("since", str(exc).split(": ", 1)[-1]) from None
    return {"entries": views.audit_entries(store, who.name, user[:64], action[:64], when, limit, offset)}
