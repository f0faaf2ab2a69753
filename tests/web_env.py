"""A real adwatch web server for the web tests: the demo site crawled into a store, two users,
and ``adwatch serve`` as a subprocess on a free loopback port (uvicorn, real HTTP).

Built once per test session per store kind (``tests/conftest.py``: ``web_world``,
``web_world_es``); tests that change state (acks, saved searches, passwords) use their own
names so they do not disturb each other.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from adwatch.demo.server import DemoSite

ROOT = Path(__file__).resolve().parent.parent
ADWATCH = [sys.executable, "-m", "adwatch"]


@dataclass
class WebWorld:
    url: str
    home: Path
    env: dict[str, str]
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (role, password)
    site_url: str = ""
    clients: list[httpx.Client] = field(default_factory=list)  # closed when the world ends
    tokens: dict[str, str] = field(default_factory=dict)

    def add_users(self, users: dict[str, str]) -> None:
        """Each user (name → role) with a random password, added with the CLI as an operator would."""
        for name, role in users.items():
            password = secrets.token_urlsafe(16)
            self.run("users", "add", name, "--role", role, "--password-stdin", stdin=password + "\n")
            self.users[name] = (role, password)

    def password(self, name: str) -> str:
        return self.users[name][1]

    def client(self, **kwargs: object) -> httpx.Client:
        made = httpx.Client(base_url=self.url, follow_redirects=False, timeout=60, **kwargs)  # type: ignore[arg-type]
        self.clients.append(made)
        return made

    def token(self, user: str) -> str:
        """An API token of ``user``, made once with the CLI as an operator would."""
        if user not in self.tokens:
            done = self.run("users", "token-create", user, "--label", "tests")
            self.tokens[user] = next(word for word in done.stdout.split() if word.startswith("adw_"))
        return self.tokens[user]

    def api(self, user: str = "ana") -> httpx.Client:
        return self.client(headers={"authorization": f"Bearer {self.token(user)}"})

    def login(self, name: str) -> httpx.Client:
        """A client holding a session cookie of ``name``."""
        client = self.client()
        page = client.get("/login")
        token = _hidden(page.text, "csrf")
        answer = client.post("/login", data={"name": name, "password": self.password(name), "csrf": token,
                                              "next": "/search"})
        assert answer.status_code == 303, answer.text[:500]
        return client

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*ADWATCH, *args], input=stdin, capture_output=True, text=True, env=self.env, cwd=ROOT,
                              timeout=300)
        if check and done.returncode != 0:
            raise AssertionError(f"adwatch {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
        return done


def _hidden(html: str, name: str) -> str:
    import re

    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} field"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def world_env(home: Path, store: str, sources_dir: str, schedule: str, extra: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_") or k.startswith("ADWATCH_TEST")}
    return {**inherited, "ADWATCH_HOME": str(home), "ADWATCH_STORE": store, "PYTHONWARNINGS": "error",
            "ADWATCH_SOURCES_DIR": sources_dir, "ADWATCH_SCHEDULE": schedule, **extra}


@contextmanager
def web_world(home: Path, store: str, sources_dir: str, schedule: str, extra_env: dict[str, str] | None = None
              ) -> Iterator[WebWorld]:
    """The demo site crawled twice (a baseline four days ago, then today: new numbers, alerts),
    an analyst and an admin, and the server."""
    home.mkdir(parents=True, exist_ok=True)
    env = world_env(home, store, sources_dir, schedule, extra_env or {})
    world = WebWorld(url="", home=home, env=env)
    with DemoSite(seed=7) as site:  # kept running: the server fetches the ads' photos from it
        world.site_url = site.base_url
        for day in (site.anchor - timedelta(days=4), None):
            site.show_until(day)
            crawled = world.run("crawl", "--all", "--base-url", site.base_url, check=False)
            # 1: a run was partial (the demo site has flaky and malformed pages on purpose)
            assert crawled.returncode in (0, 1), crawled.stderr[-2000:]
        world.add_users({"ana": "analyst", "boss": "admin", "other": "analyst"})
        with _server(world) as running:
            yield running


@contextmanager
def bare_world(home: Path, sources_dir: str, schedule: str, users: dict[str, str]) -> Iterator[WebWorld]:
    """A server on an empty store with accounts of its own: for tests whose state would
    disturb the shared worlds (login throttling counts failures per client address)."""
    home.mkdir(parents=True, exist_ok=True)
    world = WebWorld(url="", home=home, env=world_env(home, "sqlite", sources_dir, schedule, {}))
    world.add_users(users)
    with _server(world) as running:
        yield running


@contextmanager
def adwatch_serve(env: dict[str, str], log_path: Path, timeout: float = 120) -> Iterator[str]:
    """``adwatch serve`` on a free loopback port until the block ends; yields its URL once the
    login page answers (the benchmarks start their servers this way too)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        server = subprocess.Popen([*ADWATCH, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"adwatch serve did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextmanager
def _server(world: WebWorld) -> Iterator[WebWorld]:
    with adwatch_serve(world.env, world.home / "server.log") as url:
        world.url = url
        try:
            yield world
        finally:
            for client in world.clients:
                client.close()
