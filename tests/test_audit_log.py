"""The audit log (issue 14): the hash chain, both stores, tampering found, concurrent writers, the CLI.

The chain's functions are tested on plain dicts; the stores on a temp SQLite file and a real
Elasticsearch (the two-store fixture of tests/test_store_conformance.py); tampering is done the
way someone with access would do it (sqlite3 with the triggers dropped, a document indexed over
an entry), and concurrent writers are real processes.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from index.audit_chain import (
    GENESIS,
    ChainVerifier,
    canonical,
    chained,
    entry_hash,
    parse_anchor,
    verify,
)
from index.elastic import ElasticStore
from index.sqlite import SqliteStore
from index.store import AUDIT_FIELDS, Store, StoreUnavailable
from tests.conftest import ROOT, Factory, run_adwatch

AT = "2026-11-20T10:00:00Z"


def chain(n: int, user: str = "anna") -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for i in range(n):
        entries.append(chained(entries[-1] if entries else None, user, "search", {"q": f"q{i}"}, i,
                               f"2026-11-20T10:{i:02d}:00Z"))
    return entries


def problems(entries: list[dict[str, Any]], anchor: tuple[int, str] | None = None) -> list[str]:
    return verify(entries, anchor).lines()


# --- the chain, without a store ----------------------------------------------------------------


class TestChain:
    def test_entries_link_by_hash_and_a_fresh_chain_is_intact(self) -> None:
        entries = chain(5)
        assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
        assert entries[0]["prev_hash"] == GENESIS
        assert all(b["prev_hash"] == a["hash"] for a, b in zip(entries, entries[1:], strict=False))
        assert set(entries[0]) == set(AUDIT_FIELDS)
        report = verify(entries)
        assert report.ok and report.checked == 5 and report.anchor == f"5:{entries[-1]['hash']}"

    def test_the_hash_is_sha256_of_sorted_key_json(self) -> None:
        import hashlib

        entry = chain(1)[0]
        body = {k: entry[k] for k in ("seq", "at", "user", "action", "params", "result_count", "prev_hash")}
        expected = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        assert canonical(entry) == expected
        assert entry["hash"] == entry_hash(entry) == hashlib.sha256(expected).hexdigest()

    def test_params_are_hashed_as_a_store_gives_them_back(self) -> None:
        params: dict[Any, Any] = {"t": (1, 2), "n": math.nan, 3: {"s": {"b"}}}  # not JSON as it stands
        entry = chained(None, "u\ud800", "search", params, None, AT)
        assert entry["user"] == "u\ufffd" and entry["params"] == {"t": [1, 2], "n": "nan", "3": {"s": ["b"]}}
        round_trip = json.loads(json.dumps(entry))
        assert verify([round_trip]).ok

    def test_an_edited_entry_is_found_by_its_hash(self) -> None:
        entries = chain(4)
        entries[1] = entries[1] | {"result_count": 99}
        assert problems(entries) == ["seq 2: edited: its contents do not match its hash"]

    def test_an_edited_and_rehashed_entry_is_found_by_the_next_one(self) -> None:
        entries = chain(4)
        forged = entries[1] | {"user": "someone else"}
        entries[1] = forged | {"hash": entry_hash(forged)}
        lines = problems(entries)
        assert len(lines) == 1 and lines[0].startswith("seq 3: its prev_hash does not match the hash of seq 2")

    def test_a_deleted_entry_leaves_a_gap(self) -> None:
        entries = chain(5)
        assert problems(entries[:2] + entries[3:]) == ["seq 3: deleted: seq 3 missing before seq 4"]
        assert problems(entries[3:]) == ["seq 1: deleted: seq 1 to 3 missing before seq 4"]

    def test_an_inserted_or_reordered_entry_is_found(self) -> None:
        entries = chain(4)
        extra = chained(entries[1], "mallory", "search", {}, 0, AT)  # a second seq 3
        assert any(line.startswith("seq 3: a second entry with this seq")
                   for line in problems(entries[:3] + [extra] + entries[3:]))
        swapped = [entries[0], entries[2], entries[1], entries[3]]
        assert problems(swapped)  # seq 2 missing before 3, then 2 out of order
        first_forged = chained(None, "mallory", "login", {}, None, AT) | {"prev_hash": "f" * 64}
        first_forged["hash"] = entry_hash(first_forged)
        assert problems([first_forged])[0].startswith("seq 1: its prev_hash does not match the hash of the start")

    def test_a_cut_tail_needs_the_anchor(self) -> None:
        entries = chain(5)
        anchor = parse_anchor(verify(entries).anchor or "")
        assert problems(entries[:3]) == []  # the chain alone cannot tell (see index/audit_chain.py)
        assert problems(entries[:3], anchor) == [
            "seq 5: missing: the chain ends at seq 3, before the anchor recorded earlier (its newest entries were cut)"]
        assert problems(entries + chain(2)[1:], anchor)  # (a later entry that does not link is found anyway)
        longer = entries + [chained(entries[-1], "anna", "search", {}, 0, AT)]
        assert problems(longer, anchor) == []  # entries after the anchor are fine

    def test_a_rewritten_chain_is_found_by_the_anchor(self) -> None:
        anchor = parse_anchor(verify(chain(5)).anchor or "")
        rewritten = chain(5, user="someone else")  # every hash recomputed: a sound chain of its own
        assert problems(rewritten) == []
        assert problems(rewritten, anchor) == [
            "seq 5: differs from the anchor recorded earlier: the chain was rewritten up to here"]

    def test_entries_in_any_shape_are_problems_not_crashes(self) -> None:
        entries = chain(3)
        broken: list[dict[str, Any]] = [entries[0], {"seq": "2", "hash": None}, {},
                                        entries[1] | {"params": "not json", "at": None},
                                        entries[2] | {"result_count": math.inf}]
        lines = problems(broken)
        assert lines[0].startswith("seq '2': malformed") and lines[1].startswith("seq None: malformed")
        assert "seq 2: edited: its contents do not match its hash" in lines
        assert "seq 3: edited: its contents do not match its hash" in lines

    def test_verifying_page_by_page_is_verifying_the_whole(self) -> None:
        entries = chain(7)
        entries[4] = entries[4] | {"action": "export"}
        verifier = ChainVerifier()
        for start in range(0, 7, 3):
            verifier.add(entries[start : start + 3])
        assert verifier.finish().lines() == problems(entries) == ["seq 5: edited: its contents do not match its hash"]

    @pytest.mark.parametrize("text", ["", "5", "x:" + "a" * 64, "0:" + "a" * 64, "5:" + "a" * 63, "5:" + "g" * 64])
    def test_a_bad_anchor_is_a_value_error(self, text: str) -> None:
        with pytest.raises(ValueError, match="SEQ:HASH"):
            parse_anchor(text)
        assert parse_anchor(" 5:" + "A" * 64) == (5, "a" * 64)


# --- both stores --------------------------------------------------------------------------------

@pytest.fixture
def store(store_factory: Factory) -> Store:
    return store_factory()


def fill(store: Store) -> list[dict[str, Any]]:
    rows: list[tuple[str, str, dict[str, Any], int | None, str]] = [
            ("anna", "search", {"q": "massage", "town": ["Gävle"]}, 12, "2026-11-20T10:00:00Z"),
            ("anna", "ad.view", {"id": "s:1"}, 1, "2026-11-21T10:00:00Z"),
            ("bo", "login.failed", {"ip": "127.0.0.1"}, None, "2026-11-22T10:00:00Z"),
            ("bo", "search", {"q": "<script>alert(1)</script>\x1b[2J"}, 0, "2026-11-23T10:00:00Z"),
            ("anna", "export", {"format": "csv"}, 40, "2026-11-24T10:00:00Z")]
    return [store.audit_append(user, action, params, count, at=at) for user, action, params, count, at in rows]


def whole_chain(store: Store) -> list[dict[str, Any]]:
    return store.audit_chain(after_seq=0, limit=10_000)


def tamper_edit(store: Store, seq: int, **changes: Any) -> None:
    """Change an entry the way someone with access to the data would, past adwatch."""
    if isinstance(store, SqliteStore):
        db = sqlite3.connect(store.path)
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):  # the triggers refuse first
            db.execute("UPDATE audit SET result_count = 0 WHERE seq = ?", (seq,))
        db.execute("DROP TRIGGER audit_no_update")
        for name, value in changes.items():
            db.execute(f"UPDATE audit SET {name} = ? WHERE seq = ?", (value, seq))
        db.commit()
        db.close()
    else:
        assert isinstance(store, ElasticStore)
        doc = store.es.get(index=store._alias("audit"), id=str(seq))["_source"] | changes
        store.es.index(index=store._alias("audit"), id=str(seq), document=doc, refresh=True)


def tamper_delete(store: Store, seq: int) -> None:
    if isinstance(store, SqliteStore):
        db = sqlite3.connect(store.path)
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit WHERE seq = ?", (seq,))
        db.execute("DROP TRIGGER audit_no_delete")
        db.execute("DELETE FROM audit WHERE seq = ?", (seq,))
        db.commit()
        db.close()
    else:
        assert isinstance(store, ElasticStore)
        store.es.delete(index=store._alias("audit"), id=str(seq), refresh=True)


class TestAuditLog:
    """AuditLog on both stores."""

    def test_append_returns_the_entry_as_stored(self, store: Store) -> None:
        written = fill(store)
        assert [e["seq"] for e in written] == [1, 2, 3, 4, 5]
        assert written[0]["prev_hash"] == GENESIS and written[1]["prev_hash"] == written[0]["hash"]
        assert whole_chain(store) == written
        assert written[3]["params"] == {"q": "<script>alert(1)</script>\x1b[2J"}  # kept exactly as given
        assert written[2]["result_count"] is None

    def test_entries_newest_first_and_filtered(self, store: Store) -> None:
        fill(store)
        assert [e["seq"] for e in store.audit_entries()] == [5, 4, 3, 2, 1]
        assert [e["seq"] for e in store.audit_entries(user="anna")] == [5, 2, 1]
        assert [e["seq"] for e in store.audit_entries(action="search")] == [4, 1]
        assert [e["seq"] for e in store.audit_entries(since="2026-11-22T10:00:00Z")] == [5, 4, 3]
        assert [e["seq"] for e in store.audit_entries(user="bo", action="search", since="2026-11-01T00:00:00Z")] == [4]
        assert [e["seq"] for e in store.audit_entries(limit=2, offset=1)] == [4, 3]
        assert store.audit_entries(user="nobody") == []

    def test_the_chain_pages_in_order(self, store: Store) -> None:
        fill(store)
        assert [e["seq"] for e in store.audit_chain(after_seq=2, limit=2)] == [3, 4]
        assert [e["seq"] for e in store.audit_chain(after_seq=4)] == [5]
        assert store.audit_chain(after_seq=5) == []

    def test_an_untouched_log_verifies(self, store: Store) -> None:
        fill(store)
        report = verify(whole_chain(store))
        assert report.ok and report.checked == 5 and report.last_seq == 5

    def test_the_empty_log_verifies(self, store: Store) -> None:
        assert store.audit_entries() == [] and verify(whole_chain(store)).ok

    def test_an_entry_edited_in_the_database_is_found(self, store: Store) -> None:
        fill(store)
        tamper_edit(store, 3, user="anna")  # the failed login is someone else's now
        assert verify(whole_chain(store)).lines() == ["seq 3: edited: its contents do not match its hash"]

    def test_an_entry_deleted_in_the_database_is_found(self, store: Store) -> None:
        fill(store)
        tamper_delete(store, 2)
        assert verify(whole_chain(store)).lines() == ["seq 2: deleted: seq 2 missing before seq 3"]

    def test_appends_go_on_after_a_reopen(self, store_factory: Factory) -> None:
        first = store_factory()
        fill(first)
        first.close()
        again = store_factory()
        entry = again.audit_append("cleo", "map.view", {}, 3)
        assert entry["seq"] == 6 and entry["prev_hash"] == whole_chain(again)[4]["hash"]
        assert verify(whole_chain(again)).ok

    def test_concurrent_writers_make_one_unbroken_chain(self, store_factory: Factory, tmp_path: Path,
                                                        request: pytest.FixtureRequest) -> None:
        """Two processes append at once (each its own connection or client): no seq twice, no fork."""
        store = store_factory()
        if isinstance(store, SqliteStore):
            target = ["sqlite", str(store.path)]
        else:
            target = ["es", request.getfixturevalue("es_url"), request.getfixturevalue("es_prefix")]
        per_writer = 30
        go = tmp_path / "go"
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, name, str(per_writer), str(go), *target],
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for name in ("w1", "w2")]
        go.touch()
        for writer in writers:
            _, stderr = writer.communicate(timeout=180)
            assert writer.returncode == 0, stderr[-2000:]
        entries = whole_chain(store)
        assert [e["seq"] for e in entries] == list(range(1, 2 * per_writer + 1))
        assert verify(entries).ok
        for name in ("w1", "w2"):
            assert sorted(e["params"]["n"] for e in entries if e["user"] == name) == list(range(per_writer))


# One writer process: waits for the go file so both start together, then appends N entries.
WRITER = """
import sys, time
from pathlib import Path
name, count, go, kind, *where = sys.argv[1:]
if kind == "sqlite":
    from index.sqlite import SqliteStore
    store = SqliteStore(where[0])
else:
    from index.elastic import ElasticStore
    store = ElasticStore(where[0], prefix=where[1])
while not Path(go).exists():
    time.sleep(0.005)
for n in range(int(count)):
    store.audit_append(name, "search", {"n": n}, n)
store.close()
"""


# --- the SQLite store ---------------------------------------------------------------------------


class TestSqliteAudit:
    def test_an_older_file_gets_the_table(self, tmp_path: Path) -> None:
        path = tmp_path / "old.db"
        SqliteStore(path).close()
        db = sqlite3.connect(path)  # back to v7: as an adwatch before the audit log left it
        db.executescript("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TABLE audit; "
                         "PRAGMA user_version = 7;")
        db.close()
        store = SqliteStore(path)
        try:
            assert store.schema_version() >= 8
            assert store.audit_append("anna", "login", {}, None)["seq"] == 1
        finally:
            store.close()

    def test_a_read_only_store_cannot_append(self, tmp_path: Path) -> None:
        SqliteStore(tmp_path / "t.db").close()
        store = SqliteStore(tmp_path / "t.db", readonly=True)
        try:
            with pytest.raises(StoreUnavailable):
                store.audit_append("anna", "search", {}, 0)
            assert store.audit_entries() == []
        finally:
            store.close()


# --- the Elasticsearch store --------------------------------------------------------------------


class TestElasticAudit:
    def test_an_index_without_the_audit_log_opened_read_only(self, es_url: str, es_prefix: str) -> None:
        """No audit index yet and none to create: reads are empty, an append refuses (never an
        unmapped index made on the fly)."""
        store = ElasticStore(es_url, prefix=es_prefix, create=False)
        try:
            assert store.audit_entries() == [] and store.audit_chain() == []
            with pytest.raises(StoreUnavailable, match="no audit index"):
                store.audit_append("anna", "search", {}, 0)
            assert not store.es.indices.exists(index=f"{es_prefix}-audit")
        finally:
            store.close()

    def test_a_node_that_is_down_is_store_unavailable(self) -> None:
        store = ElasticStore("http://127.0.0.1:9", timeout=1.0)
        try:
            with pytest.raises(StoreUnavailable):
                store.audit_append("anna", "search", {}, 0)
        finally:
            store.close()


# --- the CLI ------------------------------------------------------------------------------------


def sqlite_log(tmp_path: Path) -> tuple[SqliteStore, str]:
    store = SqliteStore(tmp_path / "cli.db")
    fill(store)
    return store, f"sqlite:///{tmp_path / 'cli.db'}"


class TestCli:
    def test_verify_exit_codes_and_lines(self, tmp_path: Path, home: Path) -> None:
        store, url = sqlite_log(tmp_path)
        try:
            intact = run_adwatch("--store", url, "audit", "verify", home=home)
            assert intact.returncode == 0, intact.stderr
            assert intact.stdout.startswith("audit log intact: 5 entries; anchor 5:")
            anchor = intact.stdout.split("anchor ", 1)[1].split()[0]
            tamper_edit(store, 2, params=json.dumps({"id": "s:9"}))
            tamper_delete(store, 5)  # the newest entry: only the anchor can tell
            broken = run_adwatch("--store", url, "audit", "verify", home=home)
            assert broken.returncode == 1
            assert broken.stdout.splitlines() == ["seq 2: edited: its contents do not match its hash"]
            pinned = run_adwatch("--store", url, "audit", "verify", "--anchor", anchor, "--json", home=home)
            assert pinned.returncode == 1
            report = json.loads(pinned.stdout)
            assert report["ok"] is False and [p["seq"] for p in report["problems"]] == [2, 5]
            bad = run_adwatch("--store", url, "audit", "verify", "--anchor", "five", home=home)
            assert bad.returncode == 2 and bad.stderr.startswith("error: --anchor:")
        finally:
            store.close()

    def test_listing_filters_and_shows_hostile_text_inert(self, tmp_path: Path, home: Path) -> None:
        store, url = sqlite_log(tmp_path)
        store.close()
        listed = run_adwatch("--store", url, "audit", "--user", "bo", "--json", home=home)
        assert listed.returncode == 0, listed.stderr
        assert [e["seq"] for e in json.loads(listed.stdout)] == [4, 3]
        since = run_adwatch("--store", url, "audit", "--since", "2026-11-23", "--action", "export", "--json",
                            home=home)
        assert [e["seq"] for e in json.loads(since.stdout)] == [5]
        table = run_adwatch("--store", url, "audit", "--limit", "2", home=home)
        assert table.returncode == 0 and "\x1b" not in table.stdout and "\\u001b[2J" in table.stdout
        assert "export" in table.stdout and "login.failed" not in table.stdout
        assert run_adwatch("--store", url, "audit", "--since", "soon", home=home).returncode == 2

    def test_verify_on_elasticsearch(self, es_url: str, es_prefix: str, home: Path) -> None:
        store = ElasticStore(es_url, prefix=es_prefix)
        try:
            fill(store)
            env = {"ADWATCH_STORE": "es", "ADWATCH_ES_URL": es_url, "ADWATCH_ES_PREFIX": es_prefix}
            assert run_adwatch("audit", "verify", home=home, env=env).returncode == 0
            tamper_edit(store, 4, action="search.export")
            broken = run_adwatch("audit", "verify", home=home, env=env)
            assert broken.returncode == 1 and broken.stdout.splitlines() == [
                "seq 4: edited: its contents do not match its hash"]
        finally:
            store.close()
