"""``adwatch serve``: the web UI and REST API on uvicorn (``adwatch/web/``)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated, Any

import typer

from adwatch.lookup import within
from adwatch.output import err, fail
from adwatch.settings import load_settings, override_for_this_run

if TYPE_CHECKING:
    from fastapi import FastAPI

    from adwatch.web.config import WebConfig


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(settings: Any) -> tuple[FastAPI, WebConfig]:
    """The app on the configured store and accounts; ValueError (one line) for bad settings."""
    from adwatch.web.accounts import Accounts
    from adwatch.web.app import create_app
    from adwatch.web.config import WebConfig
    from index.open import open_store, store_config

    config = WebConfig.from_settings(settings)
    if not _loopback(config.host) and not config.tls:
        raise ValueError(f"ADWATCH_WEB_HOST: {config.host} is reachable from other machines; the pages hold "
                         "sensitive personal data, so serve them over TLS (ADWATCH_WEB_TLS_CERT and "
                         "ADWATCH_WEB_TLS_KEY) or keep the loopback address behind a TLS proxy")
    stores = store_config(settings)
    accounts = Accounts.from_settings(settings)
    return create_app(config, lambda: open_store(stores), accounts), config


def run_server(app: FastAPI, config: WebConfig) -> None:
    import uvicorn

    uvicorn.run(app, host=config.host, port=config.port, ssl_certfile=config.tls_cert, ssl_keyfile=config.tls_key,
                server_header=False, proxy_headers=False, log_level="info", access_log=False)


def serve(host: Annotated[str | None, typer.Option(help="Address to listen on (ADWATCH_WEB_HOST).")] = None,
          port: Annotated[int | None, typer.Option(callback=within(1, 65535),
                                                   help="Port (ADWATCH_WEB_PORT).")] = None) -> None:
    """Serve the analyst's web UI and the REST API (/api/v1)."""
    if host:
        override_for_this_run("ADWATCH_WEB_HOST", host)
    if port:
        override_for_this_run("ADWATCH_WEB_PORT", port)
    try:
        app, config = build_app(load_settings())
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
    if not app.state.accounts.list_users():
        err.print("no users yet: add one with 'adwatch users add NAME --role admin'", markup=False)
    err.print(f"adwatch web UI on {config.base_url} (API: {config.base_url}/api/v1, "
              f"OpenAPI: {config.base_url}/api/v1/openapi.json); Ctrl-C stops it", markup=False)
    run_server(app, config)
