"""Browser sources under faults, in a real headless Chromium: a hung page and a crashed page
fail alone, pages are closed on every path, the browser is restarted after N pages, and a
missing Chromium fails the run with one clear line.

The site is a small loopback server (tests/conftest.py); its ad pages render with JavaScript.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import psutil
import pytest

from spiders.browser.chromium import running_as_root
from tests.browser_env import require_chromium
from tests.conftest import listing_route, loopback_site, run_adwatch

pytestmark = pytest.mark.slow


def _ad_page(n: int, script: str = "") -> tuple[int, str, bytes]:
    """An ad whose content only JavaScript writes (a plain fetch would see no title)."""
    html = (f"<html><body><div id=ad></div><script>"
            f"const h=document.createElement('h1');h.className='title';h.textContent='Annons {n}';"
            f"const p=document.createElement('div');p.className='body';"
            f"p.textContent='Ring 070-174 06 {10 + n} i Gävle';"
            f"document.getElementById('ad').append(h,p);{script}</script></body></html>")
    return 200, "text/html; charset=utf-8", html.encode()


def _source(base: str, **browser: Any) -> str:
    options = {"render": ["detail"], "detail_wait_for": "h1.title", "page_timeout": "4s",
               "navigation_timeout": "4s", "retries": 0, "pages_per_context": 1, **browser}
    lines = "\n".join(f"  {key}: {json.dumps(value)}" for key, value in options.items())
    return (f"name: faulty\nkind: browser\nstart_urls: ['{base}/list']\nregion: SE\n"
            "listing:\n  ad_links: 'a.ad::attr(href)'\n"
            "fields:\n  title: 'h1.title'\n  text: 'div.body'\n"
            f"browser:\n{lines}\n"
            "politeness: {delay: 0, concurrency: 2, obey_robots: true}\n")


def _crawl(home: Path, base: str, **browser: Any) -> tuple[dict[str, Any], set[str]]:
    sources = home / "sources"
    sources.mkdir(exist_ok=True)
    (sources / "faulty.yaml").write_text(_source(base, **browser))
    result = run_adwatch("crawl", "faulty", "--json", home=home,
                         env={"ADWATCH_SOURCES_DIR": str(sources)}, timeout=180)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    run = json.loads(result.stdout)[0]
    with sqlite3.connect(home / "adwatch.db") as db:
        titles = {row[0] for row in db.execute("SELECT title FROM ads")}
    return run, titles


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    require_chromium()


def test_a_hung_page_fails_alone_and_is_closed(home: Path) -> None:
    pages = {"/ad/1": _ad_page(1), "/ad/2": _ad_page(2, "while (true) {}"), "/ad/3": _ad_page(3)}
    with loopback_site(listing_route(pages)) as base:
        run, titles = _crawl(home, base)
    stats = run["stats"]
    assert titles == {"Annons 1", "Annons 3"}
    assert stats["adwatch/browser/page_timeout"] >= 1
    assert stats["adwatch/browser/pages_left_open"] == 0
    assert run["status"] in ("ok", "partial")


def _renderers_of_crawl() -> list[psutil.Process]:
    """Chromium renderer processes started by an `adwatch crawl faulty` of this test."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "--type=renderer" not in cmdline:
            continue
        try:
            parents = proc.parents()
        except psutil.Error:
            continue
        if any("crawl faulty" in " ".join(p.cmdline()) for p in parents if _alive(p)):
            found.append(proc)
    return found


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running()
    except psutil.Error:
        return False


def test_a_crashed_page_fails_alone_and_the_crawl_goes_on(home: Path) -> None:
    """The crash page asks the server to kill its renderer, as an out-of-memory or a bug would."""
    killed: list[int] = []

    def route(path: str) -> tuple[int, str, bytes]:
        if path == "/crash-now":
            for proc in _renderers_of_crawl():
                killed.append(proc.pid)
                os.kill(proc.pid, signal.SIGKILL)
            return 200, "text/plain", b"ok"
        return base_route(path)

    crash = (200, "text/html", b"<html><body><script>fetch('/crash-now')</script></body></html>")
    base_route = listing_route({"/ad/1": _ad_page(1), "/ad/2": crash, "/ad/3": _ad_page(3)})
    with loopback_site(route) as base:
        run, titles = _crawl(home, base, retries=1)
    stats = run["stats"]
    assert killed, "the crash page never ran"
    assert titles == {"Annons 1", "Annons 3"}
    assert stats.get("adwatch/browser/page_crashed", 0) + stats.get("adwatch/browser/page_error", 0) >= 1
    assert stats["adwatch/browser/pages_left_open"] == 0


def test_the_browser_restarts_after_n_pages_and_nothing_is_lost(home: Path) -> None:
    pages = {f"/ad/{n}": _ad_page(n) for n in range(1, 8)}
    with loopback_site(listing_route(pages)) as base:
        run, titles = _crawl(home, base, restart_after_pages=3, pages_per_context=2)
    assert titles == {f"Annons {n}" for n in range(1, 8)}
    assert run["stats"]["adwatch/browser/restart_page_count"] >= 2
    assert run["stats"]["adwatch/browser/pages_left_open"] == 0
    assert run["status"] == "ok"


def test_a_missing_chromium_fails_the_run_with_one_line(home: Path) -> None:
    with loopback_site(listing_route({"/ad/1": _ad_page(1)})) as base:
        sources = home / "sources"
        sources.mkdir()
        (sources / "faulty.yaml").write_text(_source(base))
        result = run_adwatch("crawl", "faulty", "--json", home=home,
                             env={"ADWATCH_SOURCES_DIR": str(sources),
                                  "ADWATCH_CHROMIUM_PATH": str(home / "no-such-chromium")})
    run = json.loads(result.stdout)[0]
    assert run["status"] == "failed"
    assert "browser_missing" in run["reason"] and "no-such-chromium" in run["reason"]
    assert "Traceback" not in result.stderr


def test_blocked_and_offsite_requests_never_leave_the_browser(home: Path) -> None:
    """An ad page reaches for another host every way a page can: images, fetch, a beacon, a
    WebSocket, a popup, an iframe, a worker. The other host (a second server, named "localhost"
    where the source is "127.0.0.1") must see nothing, and no image is fetched from the site."""
    hits: list[str] = []
    offsite_hits: list[str] = []

    def route(path: str) -> tuple[int, str, bytes]:
        hits.append(path)
        return base_route(path)

    def tracker(path: str) -> tuple[int, str, bytes]:
        offsite_hits.append(path)
        return 200, "text/html", b"<html><body>tracked</body></html>"

    with loopback_site(tracker) as other:
        far = other.replace("127.0.0.1", "localhost")
        script = ("const i=document.createElement('img');i.src='/pic.jpg';document.body.append(i);"
                  f"fetch('{far}/fetch').catch(()=>{{}});navigator.sendBeacon('{far}/beacon','x');"
                  f"try{{new WebSocket('{far.replace('http', 'ws')}/ws')}}catch(e){{}}"
                  f"window.open('{far}/popup');"
                  f"const f=document.createElement('iframe');f.src='{far}/frame';document.body.append(f);"
                  f"const o=document.createElement('img');o.src='{far}/pixel.gif';document.body.append(o);")
        base_route = listing_route({"/ad/1": _ad_page(1, script)})
        with loopback_site(route) as base:
            run, titles = _crawl(home, base)
    assert titles == {"Annons 1"}
    assert "/pic.jpg" not in hits
    assert offsite_hits == []
    assert run["stats"]["adwatch/browser/blocked"] >= 1
    assert run["stats"]["adwatch/browser/offsite_blocked"] >= 1
    assert run["stats"]["adwatch/browser/pages_left_open"] == 0


def test_as_root_the_browser_needs_the_operators_word_to_run_without_its_sandbox(home: Path) -> None:
    if not running_as_root():
        pytest.skip("only root cannot use Chromium's sandbox")
    with loopback_site(listing_route({"/ad/1": _ad_page(1)})) as base:
        sources = home / "sources"
        sources.mkdir()
        (sources / "faulty.yaml").write_text(_source(base))
        result = run_adwatch("crawl", "faulty", "--json", home=home,
                             env={"ADWATCH_SOURCES_DIR": str(sources), "ADWATCH_BROWSER_SANDBOX": "on"})
    run = json.loads(result.stdout)[0]
    assert run["status"] == "failed" and run["reason"].startswith("browser_sandbox: running as root")
    assert "ADWATCH_BROWSER_SANDBOX=off" in result.stderr and "Traceback" not in result.stderr
