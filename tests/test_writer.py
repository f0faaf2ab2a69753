"""The writer without Scrapy: spool when the store is down, replay in order, set bad records aside."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from index.spool import Batch, Spool
from index.sqlite import SqliteStore
from index.store import StoreUnavailable, WriteOutcome
from index.writer import ALERTS_OFF, NewPhones, StoreWriter
from tests.conftest import ROOT


class DownStore(SqliteStore):
    """A store that is unavailable while ``down`` is set (locked, full, unreachable)."""

    down = False

    def write_ads(self, ads: Sequence[dict[str, Any]]) -> WriteOutcome:
        if self.down:
            raise StoreUnavailable("locked")
        return super().write_ads(ads)

    def touch(self, sightings: Sequence[tuple[str, str]]) -> int:
        if self.down:
            raise StoreUnavailable("locked")
        return super().touch(sightings)


@pytest.fixture
def down(tmp_path: Path) -> Iterator[DownStore]:
    store = DownStore(tmp_path / "w.db")
    yield store
    store.close()


def ad(n: int, **over: Any) -> dict[str, Any]:
    return {"id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "title": f"ad {n}", "text": "x",
            "first_seen_at": "2026-11-28T10:00:00Z", "last_seen_at": "2026-11-28T10:00:00Z",
            "content_hash": f"h{n}", "phones": [f"+4670174060{n}"]} | over


def kinds(spool: Spool) -> list[str]:
    return [path.name.rsplit(".", 2)[-2] for path in spool.pending()]


def test_the_writer_is_plain_python() -> None:
    """Neither the writer nor its spool imports Scrapy, even lazily: the CLI and other tools
    write through them outside a crawl."""
    for module in ("index/writer.py", "index/spool.py"):
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported and not {name for name in imported if name.split(".")[0] in ("scrapy", "twisted")}, module


def test_a_store_that_is_down_gets_the_batches_spooled_and_replayed_in_order(down: DownStore,
                                                                             tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    writer = StoreWriter(down, spool)
    down.down = True
    writer.flush([("ads", [ad(1, title="first")]), ("sightings", [{"id": "s:1", "seen_at": "2026-11-29T10:00:00Z"}])])
    writer.flush([("ads", [ad(1, title="changed", content_hash="h1b")])])
    assert kinds(spool) == ["ads", "sightings", "ads"]
    assert writer.counts["spooled_batches"] == 3 and writer.counts["batches"] == 0
    down.down = False
    writer.flush([("ads", [ad(2)])])  # the spool first, oldest first, then the new batch
    assert spool.pending() == []
    got = down.get_ad("s:1")
    assert got is not None and got["title"] == "changed" and got["version"] == 2
    assert down.get_ad("s:2") is not None
    assert writer.take_counts() == {"spooled_batches": 3, "replayed_batches": 3, "batches": 1, "new": 2,
                                    "updated": 1, "new_phones": 2, "touched": 1}
    assert writer.counts == {}  # taken: a caller adds them up once


def test_after_a_batch_the_store_refused_the_next_ones_wait_behind_it_untried(tmp_path: Path) -> None:
    class AdsDown(SqliteStore):
        touched = 0

        def write_ads(self, ads: Sequence[dict[str, Any]]) -> WriteOutcome:
            raise StoreUnavailable("disk full")

        def touch(self, sightings: Sequence[tuple[str, str]]) -> int:
            self.touched += 1
            return super().touch(sightings)

    store = AdsDown(tmp_path / "d.db")
    spool = Spool(tmp_path / "spool")
    StoreWriter(store, spool).flush([("ads", [ad(1)]), ("sightings", [{"id": "s:1", "seen_at": "2026-11-29"}])])
    assert kinds(spool) == ["ads", "sightings"] and store.touched == 0  # a sighting never overtakes its ad
    store.close()


def test_a_bad_record_is_set_aside_with_its_reason_and_the_rest_is_written(store: SqliteStore,
                                                                           tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    writer = StoreWriter(store, spool)
    writer.flush([("ads", [ad(1), ad(2, price=10**30), ad(3)])])  # SQLite cannot hold that price
    assert store.get_ad("s:1") and store.get_ad("s:3") and store.get_ad("s:2") is None
    (rejected,) = spool.rejected_folder.glob("*.ads.json")
    kept = json.loads(rejected.read_text(encoding="utf-8"))
    assert kept["record"]["id"] == "s:2" and "int" in kept["reason"]
    assert writer.counts["rejected"] == 1 and writer.counts["new"] == 2 and spool.pending() == []


def test_listeners_hear_of_every_batch_of_ads_stored_with_its_first_sightings(down: DownStore,
                                                                              tmp_path: Path) -> None:
    writer = StoreWriter(down, Spool(tmp_path / "spool"))
    heard: list[tuple[list[str], dict[str, tuple[str, str]]]] = []
    writer.ads_listeners.append(lambda ads, phones: heard.append(([a["id"] for a in ads], dict(phones))))
    down.down = True
    writer.flush([("ads", [ad(1)])])
    assert heard == []  # nothing stored yet
    down.down = False
    writer.flush([("ads", [ad(2)]), ("sightings", [{"id": "s:2", "seen_at": "2026-11-29T10:00:00Z"}])])
    assert heard == [(["s:1"], {"+46701740601": ("s:1", "2026-11-28T10:00:00Z")}),
                     (["s:2"], {"+46701740602": ("s:2", "2026-11-28T10:00:00Z")})]


def test_a_spooled_alert_check_goes_to_the_rules_on_replay_and_waits_while_the_store_is_down(
        store: SqliteStore, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    writer = StoreWriter(store, spool)
    writer.spool_alertcheck([ad(1)], {"+46701740601": ("s:1", "2026-11-28T10:00:00Z")})
    checked: list[tuple[list[str], NewPhones]] = []
    outage = [StoreUnavailable("locked")]

    def check(ads: Batch, new_phones: NewPhones) -> None:
        if outage:
            raise outage.pop()
        checked.append(([a["id"] for a in ads], new_phones))

    writer.check_alerts = check
    assert not writer.replay() and kinds(spool) == ["alertcheck"]  # kept for the next replay
    assert writer.replay() and spool.pending() == []
    assert checked == [(["s:1"], {"+46701740601": ("s:1", "2026-11-28T10:00:00Z")})]  # pairs again, not lists


def test_with_alerts_off_a_spooled_check_is_kept_aside_for_a_person(store: SqliteStore, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    writer = StoreWriter(store, spool)
    writer.spool_alertcheck([ad(1)], {})
    assert writer.replay() and spool.pending() == []
    (rejected,) = spool.rejected_folder.glob("*.alertcheck.json")
    kept = json.loads(rejected.read_text(encoding="utf-8"))
    assert kept["reason"] == ALERTS_OFF and "adwatch alerts evaluate" in kept["reason"]
    assert kept["record"]["ads"][0]["id"] == "s:1"


def test_a_spool_file_of_an_unknown_kind_is_set_aside_not_guessed(store: SqliteStore, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append("photos", [{"id": "s:1"}])
    writer = StoreWriter(store, spool)
    assert writer.replay() and spool.pending() == []
    (rejected,) = spool.rejected_folder.glob("*.photos.json")
    assert "unknown kind of batch 'photos'" in rejected.read_text(encoding="utf-8")
    assert store.get_ad("s:1") is None and writer.counts["rejected"] == 1


def test_writing_through_the_writer_loads_no_scrapy(tmp_path: Path) -> None:
    """In a fresh process: the writer, the spool and the SQLite store work without Scrapy loaded."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from index.sqlite import SqliteStore\n"
        "from index.spool import Spool\n"
        "from index.writer import StoreWriter\n"
        "writer = StoreWriter(SqliteStore(sys.argv[1] + '/t.db'), Spool(sys.argv[1] + '/spool'))\n"
        "writer.flush([('ads', [{'id': 's:1', 'source': 's', 'url': 'http://x/1', 'title': 't', 'text': 'x',\n"
        "                        'first_seen_at': '2026-11-01T00:00:00Z', 'last_seen_at': '2026-11-01T00:00:00Z'}])])\n"
        "loaded = sorted({n.split('.')[0] for n in sys.modules} & {'scrapy', 'twisted'})\n"
        "print(writer.counts['new'], loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.split() == ["1", "[]"]
