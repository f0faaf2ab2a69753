"""The analyst's pages: server-rendered HTML, one route per page, forms posted with CSRF tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adwatch.web import i18n, views
from adwatch.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Principal,
    check_csrf,
    require_admin,
    require_user,
)
from adwatch.web.params import MAX_OFFSET, BadParameter, parse_search, query_string
from adwatch.web.security import new_token, same_token
from adwatch.web.stores import request_store
from adwatch.web.trend_params import parse_trends
from index.store import Store

router = APIRouter(include_in_schema=False)
NAV = (("/search", "Search"), ("/map", "Map"), ("/trends", "Trends"), ("/alerts", "Alerts"),
       ("/saved", "Saved searches"))


def render(request: Request, name: str, values: dict[str, Any], status: int = 200) -> HTMLResponse:
    who: Principal | None = getattr(request.state, "principal", None)
    template = request.app.state.templates.get_template(name)
    body = template.render(request=request, who=who, lang=i18n.language(), languages=i18n.LANGUAGES, nav=NAV,
                           path=request.url.path, csrf=who.csrf if who else None, **values)
    return HTMLResponse(body, status_code=status)


def normal_number(typed: str, region: str) -> str:
    """A number in a URL as the analyst may type it (070-…, +46…) → E.164; else as given (a 404)."""
    from nlp.phones import normalize_phone

    return normalize_phone(typed[:64], region) or typed[:64]


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/search"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


# --- login ---------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, next: str = "/search") -> Response:
    token = new_token()
    response = render(request, "login.html", {"next": _safe_next(next), "login_csrf": token, "error": None})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.app.state.config.tls, path="/login")
    return response


@router.post("/login")
async def login(request: Request, store: Store = Depends(request_store)) -> Response:
    from adwatch.web.accounts import LoginThrottled

    form = await request.form()
    name = str(form.get("name") or "")[:64]
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get("csrf") or "")):
        return _login_again(request, target, i18n.gettext("The login form was out of date; please try again."), 400)
    accounts = request.app.state.accounts
    store = store
    try:
        user = await run_in_threadpool(accounts.authenticate, name, password, _client(request))
    except LoginThrottled as exc:
        # Refused attempts are logged once per name and address until the refusal ends: a script
        # hammering the form must not grow the (undeletable) audit log without bound.
        if _first_refusal(request, name, exc.retry_after_s):
            await run_in_threadpool(views.audit.record, store, name, "login.failed",
                                    {"client": _client(request), "reason": "throttled"}, None)
        return _login_again(request, target, i18n.gettext("Too many failed logins: wait a while and try again."), 429)
    if user is None:
        await run_in_threadpool(views.audit.record, store, name, "login.failed",
                                {"client": _client(request), "reason": "wrong name or password"}, None)
        return _login_again(request, target, i18n.gettext("Wrong user name or password."), 401)
    # The account's own spelling of the name (logins ignore case), in the session and the log.
    session_id, _csrf = await run_in_threadpool(accounts.start_session, user)
    await run_in_threadpool(views.audit.record, store, user.name, "login", {"client": _client(request)}, None)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="strict",
                        secure=request.app.state.config.tls, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _first_refusal(request: Request, name: str, retry_after_s: float) -> bool:
    import time

    refused: dict[tuple[str, str], float] = request.app.state.refused_logins
    now = time.monotonic()
    for key in [k for k, until in refused.items() if until <= now]:
        del refused[key]
    key = (name.casefold(), _client(request))
    if key in refused:
        return False
    refused[key] = now + max(1.0, float(retry_after_s))
    return True


def _login_again(request: Request, target: str, error: str, status: int) -> Response:
    token = new_token()
    response = render(request, "login.html", {"next": target, "login_csrf": token, "error": error}, status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.app.state.config.tls, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, who: Principal = Depends(require_user),
                 store: Store = Depends(request_store)) -> Response:
    await check_csrf(request, who)
    if who.session_id:
        await run_in_threadpool(request.app.state.accounts.end_session, who.session_id)
    await run_in_threadpool(views.audit.record, store, who.name, "logout", {}, None)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(who: Principal = Depends(require_user)) -> Response:
    return RedirectResponse("/search", status_code=303)


# --- search --------------------------------------------------------------------------
def _filters(request: Request) -> dict[str, Any]:
    from nlp.indicators import CATEGORIES

    ctx = request.app.state.context
    return {"sources": sorted(ctx.source_kinds), "kinds": sorted(set(ctx.source_kinds.values())),
            "categories": CATEGORIES}


def search_url(form: dict[str, Any], add: tuple[str, str] | None = None, page: int | None = None,
               path: str = "/search", **extra: str) -> str:
    """A link to the same search with a facet value added, another page, or as an export."""
    changes: dict[str, Any] = {"page": str(page) if page else ""}
    if add is not None:
        name, value = add
        current = list(form.get(name) or [])
        changes[name] = current if value in current else [*current, value]
    pairs = query_string(form, **changes) + list(extra.items())
    return path + ("?" + urlencode(pairs) if pairs else "")


@router.get("/search")
def search_page(request: Request, who: Principal = Depends(require_user),
                store: Store = Depends(request_store)) -> Response:
    base = {"filters": _filters(request), "search_url": search_url, "urlencode": urlencode,
            "query_string": query_string}
    try:
        parsed = parse_search(request.query_params, request.app.state.context)
    except BadParameter as exc:
        form = {k: request.query_params.get(k, "") for k in ("q",)}
        return render(request, "search.html", base | {"error": str(exc), "form": form, "result": None}, status=400)
    result = views.search(store, who.name, parsed)
    pages = max(1, min(-(-result.total // parsed.per_page), MAX_OFFSET // parsed.per_page))
    return render(request, "search.html", base | {"error": None, "form": parsed.form, "result": result,
                                                  "page": parsed.page, "pages": pages, "parsed": parsed})


@router.get("/search/facets")
def facets_fragment(request: Request, who: Principal = Depends(require_user),
                    store: Store = Depends(request_store)) -> Response:
    """The facet counts of a search as an HTML fragment (app.js puts it beside the hits)."""
    parsed = parse_search(request.query_params, request.app.state.context, paged=False)
    result = views.facet_counts(store, who.name, parsed)
    return render(request, "_facets.html", {"result": result, "form": parsed.form, "search_url": search_url})


def export_answer(request: Request, format: str, who: Principal, store: Store) -> Response:
    """The whole result set as a file (the page's export links and the API's export alike)."""
    if format not in ("csv", "json"):
        raise BadParameter("format", f"{format!r} is not csv or json")
    parsed = parse_search(request.query_params, request.app.state.context, paged=False)
    body, _rows = views.export(store, who.name, parsed, format)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return Response(body, media_type=media,
                    headers={"content-disposition": f'attachment; filename="adwatch-search.{format}"'})


@router.get("/search/export")
def export_page(request: Request, format: str = "csv", who: Principal = Depends(require_user),
                store: Store = Depends(request_store)) -> Response:
    return export_answer(request, format, who, store)


# --- one ad, one number ------------------------------------------------------------
@router.get("/images/{n}/{ad_id:path}")
def image(request: Request, n: int, ad_id: str, who: Principal = Depends(require_user),
          store: Store = Depends(request_store)) -> Response:
    """The ad's n-th photo, fetched by the server from the source's own site (``images.py``)."""
    from adwatch.web.images import ImageRefused

    if not request.app.state.config.fetch_images:
        raise views.NotFound("photos are not fetched here (ADWATCH_WEB_FETCH_IMAGES is off)")
    store = store
    ad = store.get_ad(ad_id)
    images = (ad or {}).get("images") or []
    if ad is None or not 0 <= n < len(images) or not isinstance(images[n], str):
        raise views.NotFound(f"no photo {n} of ad {ad_id!r}")
    source = request.app.state.sources.get(ad.get("source"))
    allowed = list(source.allowed_domains) if source is not None else []
    try:
        found = request.app.state.images.fetch(images[n], allowed)
    except ImageRefused as exc:
        views.audit.record(store, who.name, "image.view", {"id": ad_id, "n": n}, 0)
        raise views.NotFound(f"photo {n} of ad {ad_id!r}: {exc}") from None
    views.audit.record(store, who.name, "image.view", {"id": ad_id, "n": n}, 1)
    return Response(found.body, media_type=found.media_type)


def case_file_answer(request: Request, ad_id: str, who: Principal, store: Store) -> Response:
    """The ad's case file (WACZ), built for this request into a private temporary folder, sent,
    then removed; analysts and admins may (the download is in the audit log before the answer)."""
    import shutil

    from starlette.background import BackgroundTask

    config = request.app.state.config
    path = views.case_file(store, who.name, ad_id, config.evidence, config.home / "web" / "cases")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ad_id)[:80]
    return FileResponse(path, media_type="application/wacz", filename=f"adwatch-case-{safe}.wacz",
                        background=BackgroundTask(shutil.rmtree, path.parent, ignore_errors=True))


@router.get("/ads/{ad_id:path}/evidence.wacz")
def case_download(request: Request, ad_id: str, who: Principal = Depends(require_user),
                  store: Store = Depends(request_store)) -> Response:
    return case_file_answer(request, ad_id, who, store)


@router.get("/ads/{ad_id:path}")
def ad_page(request: Request, ad_id: str, who: Principal = Depends(require_user),
            store: Store = Depends(request_store)) -> Response:
    view = views.ad_view(store, who.name, ad_id, request.app.state.config.evidence)
    return render(request, "ad.html", {"view": view, "reveal": bool(who.prefs.get("reveal_images")),
                                       "fetch_images": request.app.state.config.fetch_images})


@router.get("/phones/{e164}")
def phone_page(request: Request, e164: str, who: Principal = Depends(require_user),
               store: Store = Depends(request_store)) -> Response:
    from adwatch.web.maps import phone_route_svg

    view = views.phone_view(store, who.name, normal_number(e164, request.app.state.config.region))
    return render(request, "phone.html", {"view": view, "svg": phone_route_svg(request.app.state.config, view)})


# --- map and trends ------------------------------------------------------------------
@router.get("/map")
def map_page(request: Request, metric: str = "ads", days: int = 30, who: Principal = Depends(require_user),
             store: Store = Depends(request_store)) -> Response:
    from adwatch.web.maps import towns_svg

    if metric not in ("ads", "new_phones"):
        raise BadParameter("metric", f"{metric!r} is not ads or new_phones")
    if not 1 <= days <= 3650:
        raise BadParameter("days", "give a number of days from 1 to 3650")
    config = request.app.state.config
    towns = views.map_counts(store, who.name, config.region, metric, days)
    return render(request, "map.html", {"metric": metric, "days": days, "towns": towns,
                                        "svg": towns_svg(config, towns, metric, days)})


@router.get("/trends")
def trends_page(request: Request, who: Principal = Depends(require_user),
                store: Store = Depends(request_store)) -> Response:
    parsed = parse_trends(request.query_params, request.app.state.config.region)
    trend = views.trends(store, who.name, parsed.query, parsed.top, parsed.form)
    return render(request, "trends.html", {"trend": trend, "form": parsed.form})


# --- alerts and saved searches ---------------------------------------------------------
@router.get("/alerts")
def alerts_page(request: Request, rule: str = "", status: str = "open", days: int = 30,
                who: Principal = Depends(require_user),
                store: Store = Depends(request_store)) -> Response:
    if status not in ("open", "acked", "all"):
        raise BadParameter("status", f"{status!r} is not open, acked or all")
    if not 1 <= days <= 3650:
        raise BadParameter("days", "give a number of days from 1 to 3650")
    found = views.alerts(store, who.name, rule[:100] or None, status, days, 500)
    return render(request, "alerts.html", {"alerts": found, "rule": rule, "status": status, "days": days})


@router.post("/alerts/{alert_id}/ack")
async def ack_page(request: Request, alert_id: str, who: Principal = Depends(require_user),
                   store: Store = Depends(request_store)) -> Response:
    await check_csrf(request, who)
    await run_in_threadpool(views.ack_alert, store, who.name, alert_id[:64])
    form = await request.form()
    return RedirectResponse(_safe_next(str(form.get("back") or "/alerts")), status_code=303)


@router.get("/saved")
def saved_page(request: Request, who: Principal = Depends(require_user),
               store: Store = Depends(request_store)) -> Response:
    store = store
    found = views.saved_searches(store, who.name, who.admin)
    return render(request, "saved.html", {"saved": found, "query_string": query_string, "urlencode": urlencode})


@router.post("/saved")
async def save_page(request: Request, who: Principal = Depends(require_user),
                    store: Store = Depends(request_store)) -> Response:
    from starlette.datastructures import QueryParams

    await check_csrf(request, who)
    form = await request.form()
    name = str(form.get("name") or "").strip()
    if not name:
        raise BadParameter("name", "give the saved search a name")
    params = QueryParams(str(form.get("query") or ""))
    parsed = parse_search(params, request.app.state.context)
    await run_in_threadpool(views.save_search, store, who.name, name, parsed)
    return RedirectResponse("/saved", status_code=303)


@router.post("/saved/{search_id}/delete")
async def delete_saved_page(request: Request, search_id: str, who: Principal = Depends(require_user),
                            store: Store = Depends(request_store)) -> Response:
    await check_csrf(request, who)
    await run_in_threadpool(views.delete_saved, store, who.name, search_id[:64], who.admin)
    return RedirectResponse("/saved", status_code=303)


# --- the analyst's settings -------------------------------------------------------
@router.get("/settings")
def settings_page(request: Request, who: Principal = Depends(require_user)) -> Response:
    return render(request, "settings.html", {"prefs": who.prefs})


@router.post("/settings")
async def save_settings(request: Request, who: Principal = Depends(require_user)) -> Response:
    await check_csrf(request, who)
    form = await request.form()
    lang = str(form.get("lang") or "")
    if lang and lang not in i18n.LANGUAGES:
        raise BadParameter("lang", f"{lang!r} is not one of {', '.join(i18n.LANGUAGES)}")
    accounts = request.app.state.accounts
    await run_in_threadpool(accounts.set_preference, who.name, "lang", lang or None)
    await run_in_threadpool(accounts.set_preference, who.name, "reveal_images", form.get("reveal_images") == "on")
    return RedirectResponse("/settings", status_code=303)


# --- admin ---------------------------------------------------------------------------
@router.get("/admin/audit")
def audit_page(request: Request, user: str = "", action: str = "", since: str = "", page: int = 1,
               who: Principal = Depends(require_admin),
               store: Store = Depends(request_store)) -> Response:
    from adwatch.core.clock import iso
    from adwatch.lookup import moment

    when = None
    if since:
        try:
            when = iso(moment("since", since))
        except ValueError as exc:
            raise BadParameter("since", str(exc).split(": ", 1)[-1]) from None
    if not 1 <= page <= 10_000:
        raise BadParameter("page", "give a page from 1 to 10000")
    entries = views.audit_entries(store, who.name, user[:64], action[:64], when, 100, (page - 1) * 100)
    return render(request, "audit.html", {"entries": entries, "form": {"user": user, "action": action,
                                                                        "since": since}, "page": page})


@router.get("/admin/users")
def users_page(request: Request, who: Principal = Depends(require_admin)) -> Response:
    return render(request, "users.html", {"users": request.app.state.accounts.list_users()})
