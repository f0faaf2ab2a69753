"""A case file replays in a standard tool: pywb 2.10 (its own venv, ``make replay``) takes the
WACZ with ``wb-manager add --unpack-wacz`` and serves each archived page again; the body it
serves is the payload the archive holds, byte for byte, for every version of an ad."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adwatch.evidence.cases import Selector, build_case
from adwatch.evidence.wacz import cdx_time, write_case
from index.sqlite import SqliteStore
from tests.evidence_fixtures import EvidenceWorld, build_world
from tests.web_env import free_port

REPLAY_BIN = Path(__file__).resolve().parent.parent / ".venv-replay" / "bin"
WAYBACK = REPLAY_BIN / "wayback"
WB_MANAGER = REPLAY_BIN / "wb-manager"

pytestmark = pytest.mark.skipif(not WAYBACK.exists(),
                                reason=f"pywb is not installed ({WAYBACK} missing: run `make replay`)")


@dataclass
class Replay:
    url: str
    world: EvidenceWorld


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    root = tmp_path_factory.mktemp("replay")
    store = SqliteStore(root / "adwatch.db")
    try:
        world = build_world(store, root / "evidence")
        case = build_case(store, world.place, Selector(ids=tuple(world.ids)))
    finally:
        store.close()
    package = root / "case.wacz"
    write_case(case, world.place, package, "cli:tests")
    served = root / "pywb"
    served.mkdir()
    for args in (["init", "case"], ["add", "case", "--unpack-wacz", str(package)]):
        done = subprocess.run([str(WB_MANAGER), *args], cwd=served, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    port = free_port()
    with (root / "wayback.log").open("w") as log:
        server = subprocess.Popen([str(WAYBACK), "-p", str(port), "-b", "127.0.0.1"], cwd=served, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{url}/case/", timeout=2)
                    break
                except httpx.HTTPError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"wayback did not start: {(root / 'wayback.log').read_text()[-2000:]}"
                                           ) from None
                    time.sleep(0.2)
            yield Replay(url, world)
        finally:
            server.terminate()
            server.wait(timeout=20)


def raw_body(replay: Replay, url: str, fetched_at: str) -> tuple[httpx.Headers, bytes]:
    """The archived response as pywb serves it unchanged (``id_``: no rewriting), undecoded."""
    with httpx.stream("GET", f"{replay.url}/case/{cdx_time(fetched_at)}id_/{url}", timeout=30) as answer:
        assert answer.status_code == 200, f"{url} at {fetched_at}: {answer.status_code}"
        return answer.headers, b"".join(answer.iter_raw())


@pytest.mark.parametrize("name", ["v1", "v2", "browser"])
def test_each_page_replays_as_archived(replay: Replay, name: str) -> None:
    page = replay.world.pages[name]
    when = {"v1": "2026-11-27T09:00:00Z"}.get(name, "2026-11-28T10:00:00Z")
    headers, body = raw_body(replay, page.url, when)
    assert body == page.sent and body == page.body
    assert headers["memento-datetime"].endswith(("27 Nov 2026 09:00:00 GMT", "28 Nov 2026 10:00:00 GMT"))


def test_a_gzip_encoded_page_replays_with_its_encoding(replay: Replay) -> None:
    page = replay.world.pages["zipped"]
    headers, body = raw_body(replay, page.url, "2026-11-28T10:00:00Z")
    assert headers.get("content-encoding") == "gzip"
    assert body == page.sent  # the bytes the server sent, compressed, as the payload digest covers them
    import gzip

    assert gzip.decompress(body) == page.body


def test_versions_are_told_apart(replay: Replay) -> None:
    first, second = replay.world.pages["v1"], replay.world.pages["v2"]
    assert first.url == second.url
    assert raw_body(replay, first.url, "2026-11-27T09:00:00Z")[1] == first.body
    assert raw_body(replay, second.url, "2026-11-28T10:00:00Z")[1] == second.body != first.body
