"""The web application: ``create_app`` builds it from plain parts (config, a store opener,
the accounts), so tests and ``adwatch serve`` build it the same way.

Pages (``pages.py``) and the REST API (``api.py``) share the views (``views.py``), the
search parameters (``params.py``) and the audit (``audit.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from adwatch.web import i18n
from adwatch.web.audit import AuditUnavailable
from adwatch.web.auth import CsrfRejected, Forbidden, LoginRequired, principal_of
from adwatch.web.config import WebConfig
from adwatch.web.images import ImageCache
from adwatch.web.params import BadParameter, Context
from adwatch.web.security import HEADERS, SecurityHeaders
from adwatch.web.stores import StorePool
from adwatch.web.views import NotFound
from index.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
API = "/api/v1"


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["path"] = path_segment
    env.filters["score"] = score_text
    return env


def path_segment(value: object) -> str:
    """One URL path segment: every "/" and "?" escaped too, so an id like "s:../../x" stays one
    segment (Jinja's urlencode keeps "/", and a browser would resolve the dots)."""
    return quote(str(value), safe="")


def score_text(value: object) -> str:
    """A stored score, shown with one decimal; anything else a stranger's data put there, as a dash."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return "–"
    return f"{value:.1f}"


def _sources(config: WebConfig) -> dict[str, Any]:
    from config.source_schema import load_sources

    if not config.sources_dir:
        return {}
    sources, problems = load_sources(config.sources_dir)
    for problem in problems:
        logger.warning("sources: %s", problem)
    return dict(sources)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API)


def error_response(request: Request, status: int, message: str) -> Response:
    """JSON for the API, a page for a browser; the message is one line, never a traceback."""
    if _is_api(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    from adwatch.web.pages import render

    return render(request, "error.html", {"status": status, "message": message}, status=status)


def create_app(config: WebConfig, open_store: Callable[[], Store], accounts: Any) -> FastAPI:
    stores = StorePool(open_store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        stores.close()

    app = FastAPI(title="adwatch", version="1", openapi_url=f"{API}/openapi.json", docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.config = config
    app.state.stores = stores
    app.state.accounts = accounts
    app.state.templates = templates()
    app.state.refused_logins = {}  # (name, address) → until when a throttled login is already logged
    app.state.sources = _sources(config)
    app.state.images = ImageCache(config.home / "web" / "images")
    kinds = {name: source.kind for name, source in app.state.sources.items()}
    app.state.context = Context(region=config.region, source_kinds=kinds, highways=config.highways,
                                max_chars=config.max_query_chars, max_terms=config.max_query_terms)

    @app.middleware("http")
    async def language_and_login(request: Request, call_next: Callable[[Request], Any]) -> Response:
        # Who is asking, read once per request off the event loop (an accounts look-up is SQLite).
        asks = bool(request.cookies) or "authorization" in request.headers
        who = await run_in_threadpool(principal_of, request) if asks else None
        request.state.principal = who
        # The OpenAPI document describes the whole API: only for those who may use it.
        if request.url.path == app.openapi_url and who is None:
            return JSONResponse({"error": "log in or send an API token (Authorization: Bearer …)",
                                 "status": 401}, status_code=401, headers={"www-authenticate": "Bearer"})
        lang = (who.prefs.get("lang") if who else None) or i18n.negotiate(request.headers.get("accept-language"))
        i18n.set_language(str(lang))
        response: Response = await call_next(request)
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "log in or send an API token (Authorization: Bearer …)", "status": 401},
                                status_code=401, headers={"www-authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import urlencode

        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return error_response(request, 403, i18n.gettext("This needs the admin role."))

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        return error_response(request, 403, i18n.gettext("The form is out of date (CSRF token missing or wrong): "
                                                         "reload the page and try again."))

    @app.exception_handler(BadParameter)
    async def bad_parameter(request: Request, exc: BadParameter) -> Response:
        return error_response(request, 400, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return error_response(request, 404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return error_response(request, 400, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(AuditUnavailable)
    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: Exception) -> Response:
        # The detail (it may name the cluster's address) goes to the server log, not to the page.
        logger.error("%s %s: store unavailable: %s", request.method, request.url.path, exc)
        return error_response(request, 503, i18n.gettext("The store is unavailable just now; try again in a "
                                                          "moment."))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        response = error_response(request, 500, i18n.gettext("Internal error; the server log has the details."))
        # This handler answers outside the middleware stack: the security headers are added here.
        response.headers.update(HEADERS | {"cache-control": "no-store"})
        return response

    from adwatch.web import api, pages

    app.include_router(pages.router)
    app.include_router(api.router, prefix=API)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(SecurityHeaders, tls=config.tls)
    return app
