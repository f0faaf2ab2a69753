"""``adwatch hold add|list|release``: each kind of hold, what it keeps from purge, and the audit log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adwatch.retention.holds import held
from index.sqlite import SqliteStore
from tests.conftest import run_adwatch

P1, P2 = "+46701740610", "+46846500410"


def ad(n: int, phones: list[str], text: str) -> dict[str, Any]:
    return {"id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "title": f"Annons {n}", "text": text,
            "first_seen_at": "2026-11-20T10:00:00Z", "last_seen_at": "2026-11-20T10:00:00Z", "phones": phones,
            "towns": [], "content_hash": f"h{n}", "version": 1}


def test_holds_from_the_command_line(home: Path) -> None:
    store = SqliteStore(home / "adwatch.db")
    store.write_ads([ad(1, [P1], "massage"), ad(2, [P2], "hotell incall"), ad(3, [], "hotell outcall")])
    store.close()
    env = {"ADWATCH_NOW": "2026-12-01T08:00:00Z"}
    by_ad = run_adwatch("hold", "add", "Case 2026/17", "--ad", "s:1", "--json", home=home, env=env, check=True)
    assert json.loads(by_ad.stdout)["ads"] == ["s:1"]
    run_adwatch("hold", "add", "Case 2026/17", "--phone", "08-465 004 10", home=home, env=env, check=True)
    snap = run_adwatch("hold", "add", "Case 9", "--search", "hotell", "--json", home=home, env=env, check=True)
    assert json.loads(snap.stdout)["ads"] == ["s:2", "s:3"]  # the matches now, recorded
    missing = run_adwatch("hold", "add", "Case 9", "--ad", "s:404", home=home, env=env)
    assert missing.returncode == 1 and "no such ad" in missing.stderr and "Traceback" not in missing.stderr
    two = run_adwatch("hold", "add", "Case 9", "--ad", "s:1", "--phone", P1, home=home, env=env)
    assert two.returncode == 2 and "exactly one" in two.stderr

    # A later ad with the held number is held too: --phone holds its ads now and later.
    store = SqliteStore(home / "adwatch.db")
    store.write_ads([ad(4, [P2], "ny annons")])
    assert held(store).ads == {"s:1", "s:2", "s:3", "s:4"} and held(store).phones == {P2}
    store.close()

    released = run_adwatch("hold", "release", "Case 2026/17", "--json", home=home, env=env, check=True)
    assert {h["kind"] for h in json.loads(released.stdout)} == {"ad", "phone"}
    again = run_adwatch("hold", "release", "Case 2026/17", home=home, env=env)
    assert again.returncode == 1 and "no active hold" in again.stderr
    listed = json.loads(run_adwatch("hold", "list", "--json", home=home, env=env, check=True).stdout)
    assert [(h["case"], h["kind"], bool(h["released_at"])) for h in listed] == [
        ("Case 2026/17", "ad", True), ("Case 2026/17", "phone", True), ("Case 9", "search", False)]
    assert all(h["by"].startswith("cli:") for h in listed)
    active = json.loads(run_adwatch("hold", "list", "--active", "--json", home=home, env=env, check=True).stdout)
    assert [h["case"] for h in active] == ["Case 9"]

    audit = json.loads(run_adwatch("audit", "--json", home=home, env=env, check=True).stdout)
    actions = [(e["action"], e["params"]["case"]) for e in reversed(audit)]
    assert actions == [("hold.add", "Case 2026/17"), ("hold.add", "Case 2026/17"), ("hold.add", "Case 9"),
                       ("hold.release", "Case 2026/17")]
    assert all(e["user"].startswith("cli:") and e["at"].startswith("2026-12-01") for e in audit)
    store = SqliteStore(home / "adwatch.db")
    assert held(store).ads == {"s:2", "s:3"}  # only the search snapshot is still held
    store.close()
