"""The ad page's evidence block, its case-file download and the evidence API, over real HTTP
against ``adwatch serve`` on a store of fixture ads with archived records (tests/evidence_fixtures.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from adwatch.evidence.verify import verify_wacz
from index.sqlite import SqliteStore
from tests.conftest import html_schedule, html_sources_dir
from tests.evidence_fixtures import EvidenceWorld, build_world
from tests.web_env import WebWorld, bare_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evidence_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebWorld, EvidenceWorld]]:
    home = tmp_path_factory.mktemp("web-evidence") / "home"
    home.mkdir()
    store = SqliteStore(home / "adwatch.db")
    try:
        fixtures = build_world(store, home / "evidence")
    finally:
        store.close()
    with bare_world(home, html_sources_dir(), html_schedule(), {"ana": "analyst", "boss": "admin"}) as world:
        yield world, fixtures


def path(ad_id: str) -> str:
    return quote(ad_id, safe="")


def test_the_ad_page_shows_its_records(evidence_web: tuple[WebWorld, EvidenceWorld]) -> None:
    world, fixtures = evidence_web
    page = world.login("ana").get(f"/ads/{path('fixture:101')}")
    assert page.status_code == 200
    current = fixtures.blocks["fixture:101"]
    html = page.text
    assert 'id="evidence"' in html and current["sha256"] in html and current["warc"] in html
    assert "Records of version 1" in html and "Records of version 2 (this one)" in html
    assert html.count('class="check-ok"') == 4  # response and request, now and in version 1
    assert f'href="/ads/{path("fixture:101")}/evidence.wacz"' in html
    bare = world.login("ana").get(f"/ads/{path('fixture:104')}").text
    assert "No archived records" in bare


def test_the_block_is_in_swedish(evidence_web: tuple[WebWorld, EvidenceWorld]) -> None:
    world, _ = evidence_web
    client = world.login("ana")
    html = client.get(f"/ads/{path('fixture:103')}", headers={"accept-language": "sv"}).text
    assert "Bevisning" in html and "skärmbild" in html and "Ladda ner ärendefilen (WACZ)" in html


def test_the_case_file_download_is_audited_and_valid(evidence_web: tuple[WebWorld, EvidenceWorld],
                                                     tmp_path: Path) -> None:
    world, fixtures = evidence_web
    answer = world.login("ana").get(f"/ads/{path('fixture:103')}/evidence.wacz")
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "application/wacz"
    assert 'filename="adwatch-case-fixture_103.wacz"' in answer.headers["content-disposition"]
    saved = tmp_path / "download.wacz"
    saved.write_bytes(answer.content)
    assert verify_wacz(saved).ok
    checked = subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate", "-f", str(saved)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout
    with zipfile.ZipFile(io.BytesIO(answer.content)) as zf:
        manifest = json.loads(zf.read("case/manifest.json"))
    assert manifest["exported_by"] == "web:ana" and manifest["counts"]["packaged"] == 4
    assert [r["record_id"] for r in manifest["ads"][0]["records"]][0] == fixtures.blocks["fixture:103"]["record_id"]
    entries = world.api("boss").get("/api/v1/audit", params={"action": "evidence.download"}).json()["entries"]
    assert [(e["user"], e["params"], e["result_count"]) for e in entries][:1] == [("ana", {"id": "fixture:103"}, 1)]
    # The temporary copy is gone once sent (removed after the answer; poll briefly, no timing asserted).
    import time

    cases = world.home / "web" / "cases"
    for _ in range(50):
        if not any(cases.iterdir()):
            break
        time.sleep(0.1)
    assert not any(cases.iterdir())


def test_the_evidence_api(evidence_web: tuple[WebWorld, EvidenceWorld]) -> None:
    world, fixtures = evidence_web
    client = world.api("ana")
    found = client.get(f"/api/v1/ads/{path('fixture:101')}/evidence").json()
    assert found["id"] == "fixture:101" and found["version"] == 2
    assert [(r["type"], r["status"]) for r in found["records"]] == [("response", "ok"), ("request", "ok")]
    assert found["records"][0]["sha256"] == fixtures.blocks["fixture:101"]["sha256"]
    assert [v["version"] for v in found["versions"]] == [1] and len(found["versions"][0]["records"]) == 2
    assert client.get(f"/api/v1/ads/{path('nope')}/evidence").status_code == 404
    wacz = client.get(f"/api/v1/ads/{path('fixture:102')}/evidence.wacz")
    assert wacz.status_code == 200 and wacz.content[:4] == b"PK\x03\x04"
    with world.client() as anonymous:
        assert anonymous.get(f"/api/v1/ads/{path('fixture:101')}/evidence").status_code == 401
        assert anonymous.get(f"/api/v1/ads/{path('fixture:101')}/evidence.wacz").status_code == 401
    entries = world.api("boss").get("/api/v1/audit", params={"action": "evidence.show"}).json()["entries"]
    assert {"id": "fixture:101"} in [e["params"] for e in entries if e["user"] == "ana"]


def test_a_changed_record_shows_as_changed(evidence_web: tuple[WebWorld, EvidenceWorld]) -> None:
    world, fixtures = evidence_web
    block = fixtures.blocks["fixture:102"]
    target = fixtures.place.resolve(block["warc"])
    original = target.read_bytes()
    data = bytearray(original)
    data[block["offset"] + block["length"] - 10] ^= 0x01
    try:
        target.write_bytes(bytes(data))
        found = world.api("ana").get(f"/api/v1/ads/{path('fixture:102')}/evidence").json()
        assert [r["status"] for r in found["records"]] == ["changed", "ok"]
        html = world.login("ana").get(f"/ads/{path('fixture:102')}").text
        assert 'class="check-changed"' in html
    finally:
        target.write_bytes(original)


def test_crawled_ads_carry_records_that_download_and_verify(web_world: WebWorld, tmp_path: Path) -> None:
    """The demo site crawled with archiving on (the shared web world): an ad's page shows the
    records the crawl wrote, and its case file verifies."""
    client = web_world.api("ana")
    hits = client.get("/api/v1/search", params={"per_page": 5, "source": "annonsguiden"}).json()["hits"]
    assert hits
    found = client.get(f"/api/v1/ads/{path(hits[0]['id'])}/evidence").json()
    if not found["records"]:
        pytest.skip("the crawl archived nothing (ADWATCH_EVIDENCE off in this environment)")
    assert {r["type"] for r in found["records"]} >= {"response", "request"}
    assert all(r["status"] == "ok" for r in found["records"])
    html = web_world.login("ana").get(f"/ads/{path(hits[0]['id'])}").text
    assert found["records"][0]["sha256"] in html
    answer = client.get(f"/api/v1/ads/{path(hits[0]['id'])}/evidence.wacz")
    saved = tmp_path / "crawled.wacz"
    saved.write_bytes(answer.content)
    report = verify_wacz(saved)
    assert report.ok and report.refs == len(found["records"]) + sum(len(v["records"]) for v in found["versions"])
