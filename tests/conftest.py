"""Shared fixtures: a real demo site on loopback, temp data homes, the CLI as a subprocess."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from adwatch.demo.server import DemoSite
from index.sqlite import SqliteStore
from index.store import Store

ROOT = Path(__file__).resolve().parent.parent
ADWATCH = [sys.executable, "-m", "adwatch"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "t.db")
    yield db
    db.close()


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def es_url() -> str:
    """A real Elasticsearch node: ADWATCH_TEST_ES_URL (``make test`` starts one and sets it).

    Without one the test is skipped (``make test`` says so loudly at the start); under
    CI=true it fails, since CI must prove the Elasticsearch store."""
    from tests.es_node import healthy

    url = os.environ.get("ADWATCH_TEST_ES_URL")
    if url and healthy(url, timeout=10):
        return url
    why = f"ADWATCH_TEST_ES_URL={url} unreachable" if url else "ADWATCH_TEST_ES_URL unset"
    reason = f"no Elasticsearch node ({why})"
    if _ci():
        pytest.fail(f"{reason}: CI needs a real node")
    pytest.skip(reason)


@pytest.fixture
def es_prefix(es_url: str) -> Iterator[str]:
    """An index prefix of this test's own; its indices are dropped afterwards."""
    from index.elastic import ElasticStore

    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    cleanup = ElasticStore(es_url, prefix=prefix, create=False)
    cleanup.drop()
    cleanup.close()


Factory = Callable[[], Store]


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Opens connections to one fresh store of each kind: the SQLite store, then a real
    Elasticsearch (several connections, for tests with concurrent writers)."""
    from index.elastic import ElasticStore

    opened: list[Store] = []

    def factory() -> Store:
        if request.param == "sqlite":
            store: Store = SqliteStore(tmp_path / "t.db")
        else:
            store = ElasticStore(request.getfixturevalue("es_url"), prefix=request.getfixturevalue("es_prefix"))
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def demo_site() -> Iterator[DemoSite]:
    """A fresh demo site per test (its 503-once state is per server instance)."""
    with DemoSite(seed=7, count=120) as site:
        yield site


Route = Callable[[str], tuple[int, str, bytes]]  # request path → status, content type, body


@contextmanager
def loopback_site(route: Route) -> Iterator[str]:
    """A small HTTP server on 127.0.0.1 that answers every GET with ``route(path)``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            status, content_type, body = route(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def listing_route(pages: dict[str, tuple[int, str, bytes]], extra_links: tuple[str, ...] = ()) -> Route:
    """A one-listing site: ``/list`` links to every page (and ``extra_links``), robots.txt allows
    all, each page answers as given, anything else is a 404."""
    listing = "".join(f"<a class=ad href='{path}'>x</a>" for path in [*pages, *extra_links])

    def route(path: str) -> tuple[int, str, bytes]:
        if path == "/list":
            return 200, "text/html", f"<html><body>{listing}</body></html>".encode()
        if path == "/robots.txt":
            return 200, "text/plain", b"User-agent: *\nDisallow:\n"
        return pages.get(path, (404, "text/html", b"not found"))

    return route


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The umask most systems give a user: files 0644, folders 0755 unless created with a mode."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# The sources most tests crawl: the two HTML classifieds of the demo site. Browser and feed
# sources have tests of their own (test_browser_*.py, test_feed_sources.py), and `adwatch demo`
# crawls every bundled source (tests that want them all pass ADWATCH_SOURCES_DIR themselves).
HTML_SOURCES = ("annonsguiden", "nightlist")


# Tests run as root (CI) crawl only synthetic pages on loopback, so they may run Chromium without
# its sandbox, which it cannot start as root; the operator's switch says so (config/settings.py).
BROWSER_ENV = {"ADWATCH_BROWSER_SANDBOX": "off"} if hasattr(os, "geteuid") and os.geteuid() == 0 else {}


@cache
def html_sources_dir() -> str:
    folder = Path(tempfile.mkdtemp(prefix="adwatch-html-sources-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name in HTML_SOURCES:
        shutil.copy(ROOT / "config" / "sources" / f"{name}.yaml", folder)
    return str(folder)


@cache
def html_schedule() -> str:
    """The shipped schedule of those two sources (the full one names sources not in their folder)."""
    shipped = yaml.safe_load((ROOT / "config" / "schedule.yaml").read_text(encoding="utf-8"))
    shipped["sources"] = {name: shipped["sources"][name] for name in HTML_SOURCES}
    path = Path(html_sources_dir()).parent / f"{Path(html_sources_dir()).name}-schedule.yaml"
    atexit.register(lambda: path.unlink(missing_ok=True))
    path.write_text(yaml.safe_dump(shipped, allow_unicode=True), encoding="utf-8")
    return str(path)


def run_adwatch(*args: str, home: Path, env: dict[str, str] | None = None, check: bool = False,
                timeout: float = 240) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_") or k.startswith("ADWATCH_TEST")}
    full_env = {**inherited, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error",
                "ADWATCH_SOURCES_DIR": html_sources_dir(), "ADWATCH_SCHEDULE": html_schedule(), **BROWSER_ENV,
                **(env or {})}
    result = subprocess.run([*ADWATCH, *args], capture_output=True, text=True, env=full_env, cwd=ROOT,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"adwatch {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def run_json(*args: str, home: Path, **kwargs: Any) -> Any:
    result = run_adwatch(*args, "--json", home=home, check=True, **kwargs)
    return json.loads(result.stdout)


# --- the web server (tests/web_env.py) ----------------------------------------------------
@pytest.fixture(scope="session")
def web_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The demo site crawled into SQLite, three users, ``adwatch serve`` running (once per session)."""
    from tests.web_env import web_world as build

    home = tmp_path_factory.mktemp("web-sqlite") / "home"
    with build(home, "sqlite", html_sources_dir(), html_schedule()) as world:
        yield world


@pytest.fixture(scope="session")
def web_world_es(tmp_path_factory: pytest.TempPathFactory, es_url: str) -> Iterator[Any]:
    """The same on a real Elasticsearch node (indices of its own prefix, dropped afterwards)."""
    from index.elastic import ElasticStore
    from tests.web_env import web_world as build

    prefix = f"w{uuid.uuid4().hex[:10]}"
    home = tmp_path_factory.mktemp("web-es") / "home"
    try:
        with build(home, f"elasticsearch+{es_url}", html_sources_dir(), html_schedule(),
                   {"ADWATCH_ES_PREFIX": prefix}) as world:
            yield world
    finally:
        cleanup = ElasticStore(es_url, prefix=prefix, create=False)
        cleanup.drop()
        cleanup.close()


@pytest.fixture(scope="session", params=["sqlite", "elasticsearch"])
def any_web_world(request: pytest.FixtureRequest) -> Any:
    """Each web world in turn: a test over HTTP that must hold on both stores."""
    return request.getfixturevalue("web_world" if request.param == "sqlite" else "web_world_es")
