"""The web server's accounts: real SQLite files in tmp_path, real Argon2, the CLI as a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from adwatch.core.clock import set_now
from adwatch.web.accounts import (
    MIN_PASSWORD,
    AccountError,
    Accounts,
    LoginThrottled,
    UnknownUser,
    User,
    UserExists,
    csrf_matches,
)
from tests.conftest import ADWATCH, ROOT

PASSWORD = "correct horse battery staple"
OTHER = "another long passphrase"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[Callable[[timedelta], None]]:
    """adwatch's clock at T0; ``clock(delta)`` moves it to T0 + delta (it runs on from there)."""
    set_now(T0)
    yield lambda delta: set_now(T0 + delta)
    set_now(None)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Accounts]]:
    opened: list[Accounts] = []

    def open_accounts(**kwargs: Any) -> Accounts:
        kwargs = {"session_ttl_s": 12 * 3600, "session_idle_s": 3600, "login_attempts": 3,
                  "login_window_s": 15 * 60, **kwargs}
        accounts = Accounts(tmp_path / "web" / "accounts.db", **kwargs)
        opened.append(accounts)
        return accounts

    yield open_accounts
    for accounts in opened:
        accounts.close()


@pytest.fixture
def accounts(make: Callable[..., Accounts]) -> Accounts:
    return make()


# --- users ---------------------------------------------------------------------------------

def test_users_have_roles_and_names_are_unique_without_case(accounts: Accounts) -> None:
    anna = accounts.add_user("anna.berg@polis", "analyst", PASSWORD)
    root = accounts.add_user("root-admin", "admin", OTHER)
    assert not anna.is_admin and root.is_admin
    assert [u.name for u in accounts.list_users()] == ["anna.berg@polis", "root-admin"]
    assert accounts.get_user("ANNA.BERG@polis") == anna  # the same account, spelled as it was created
    assert accounts.get_user("nobody") is None
    with pytest.raises(UserExists):
        accounts.add_user("Anna.Berg@Polis", "analyst", PASSWORD)
    with pytest.raises(AccountError, match="bad role"):
        accounts.add_user("carl", "superuser", PASSWORD)
    assert accounts.set_role("anna.berg@polis", "admin").is_admin


@pytest.mark.parametrize("name", ["", "anna berg", "x" * 65, "åsa", "bob\n", "<script>", "a/b", "a:b", "ｂｏｂ"])
def test_bad_user_names_are_refused(accounts: Accounts, name: str) -> None:
    with pytest.raises(AccountError, match="bad user name"):
        accounts.add_user(name, "analyst", PASSWORD)
    assert accounts.list_users() == []


@pytest.mark.parametrize("name", ["a", "x" * 64, "anna.berg@polisen.se", "a-b_c.9"])
def test_good_user_names_are_taken(accounts: Accounts, name: str) -> None:
    assert accounts.add_user(name, "analyst", PASSWORD).name == name


def test_short_passwords_are_refused_with_a_clear_message(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match=f"at least {MIN_PASSWORD} characters"):
        accounts.add_user("anna", "analyst", "x" * (MIN_PASSWORD - 1))
    assert accounts.get_user("anna") is None
    accounts.add_user("anna", "analyst", "x" * MIN_PASSWORD)
    with pytest.raises(AccountError, match="too short"):
        accounts.set_password("anna", "short")
    with pytest.raises(UnknownUser):
        accounts.set_password("nobody", PASSWORD)


def test_preferences_are_kept_per_user(accounts: Accounts) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    accounts.add_user("bo", "analyst", PASSWORD)
    accounts.set_preference("anna", "reveal_images", False)
    assert accounts.set_preference("anna", "lang", "sv") == {"lang": "sv", "reveal_images": False}
    assert accounts.get_user("anna").settings == {"lang": "sv", "reveal_images": False}  # type: ignore[union-attr]
    assert accounts.get_user("bo").settings == {}  # type: ignore[union-attr]
    assert accounts.set_preference("anna", "lang", None) == {"reveal_images": False}
    with pytest.raises(AccountError, match="bad setting name"):
        accounts.set_preference("anna", "Lang; DROP", "x")
    with pytest.raises(AccountError, match="plain JSON"):
        accounts.set_preference("anna", "lang", object())
    with pytest.raises(UnknownUser):
        accounts.set_preference("nobody", "lang", "en")


# --- login ---------------------------------------------------------------------------------

def test_authenticate_right_and_wrong(accounts: Accounts) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    user = accounts.authenticate("ANNA", PASSWORD, "10.0.0.1")
    assert isinstance(user, User) and user.name == "anna"
    assert accounts.authenticate("anna", OTHER, "10.0.0.2") is None
    assert accounts.authenticate("nobody", PASSWORD, "10.0.0.3") is None
    assert accounts.authenticate("bad name!", PASSWORD, "10.0.0.4") is None
    assert accounts.authenticate("anna", "", "10.0.0.5") is None
    assert accounts.authenticate("x" * 5000, "x" * 5000, "10.0.0.6") is None


def test_a_disabled_user_cannot_log_in_and_loses_sessions_and_tokens(accounts: Accounts) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    session_id, _ = accounts.start_session("anna")
    token_id, bearer = accounts.create_token("anna", "script")
    assert accounts.token_user(bearer) is not None
    assert accounts.disable("anna").disabled
    assert accounts.authenticate("anna", PASSWORD, "10.0.0.1") is None
    assert accounts.session_user(session_id) is None
    assert accounts.session_count("anna") == 0
    assert accounts.token_user(bearer) is None
    with pytest.raises(AccountError, match="disabled"):
        accounts.start_session("anna")
    with pytest.raises(AccountError, match="disabled"):
        accounts.create_token("anna", "another")
    assert not accounts.enable("anna").disabled
    assert accounts.authenticate("anna", PASSWORD, "10.0.0.2") is not None
    assert accounts.token_user(bearer) is None  # revoked for good: a new token must be made
    assert accounts.get_token(token_id).revoked_at is not None  # type: ignore[union-attr]


def test_too_many_failures_for_a_name_refuse_even_the_right_password(
        accounts: Accounts, clock: Callable[[timedelta], None]) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    for n in range(3):
        assert accounts.authenticate("anna", f"wrong password {n}", f"10.0.0.{n}") is None
    with pytest.raises(LoginThrottled) as refused:
        accounts.authenticate("Anna", PASSWORD, "10.9.9.9")  # another address, another spelling
    assert refused.value.by == "name" and 0 < refused.value.retry_after_s <= 15 * 60
    assert accounts.recent_failures(name="anna") == 3
    clock(timedelta(minutes=14))
    with pytest.raises(LoginThrottled):
        accounts.authenticate("anna", PASSWORD, "10.9.9.9")
    clock(timedelta(minutes=16))
    assert accounts.authenticate("anna", PASSWORD, "10.9.9.9") is not None


def test_unknown_names_are_throttled_like_known_ones(accounts: Accounts, clock: Callable[[timedelta], None]) -> None:
    for n in range(3):
        assert accounts.authenticate("ghost", PASSWORD, f"10.0.1.{n}") is None
    with pytest.raises(LoginThrottled):  # the same answer as for a real name: throttling tells no names
        accounts.authenticate("ghost", PASSWORD, "10.0.1.9")


def test_too_many_failures_from_one_address_refuse_every_name(
        accounts: Accounts, clock: Callable[[timedelta], None]) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    for name in ("bo", "cecilia", "david"):  # password spraying over names
        assert accounts.authenticate(name, PASSWORD, "198.51.100.7") is None
    with pytest.raises(LoginThrottled) as refused:
        accounts.authenticate("anna", PASSWORD, "198.51.100.7")
    assert refused.value.by == "client"
    assert accounts.authenticate("anna", PASSWORD, "198.51.100.8") is not None  # another address is fine
    clock(timedelta(minutes=16))
    assert accounts.authenticate("anna", PASSWORD, "198.51.100.7") is not None


def test_successful_logins_never_count_against_the_limit(accounts: Accounts) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    for _ in range(5):
        assert accounts.authenticate("anna", PASSWORD, "10.0.0.1") is not None
    assert accounts.recent_failures(name="anna") == 0
    assert accounts.recent_failures(client="10.0.0.1") == 0


def test_failure_counts_survive_a_restart(make: Callable[..., Accounts], clock: Callable[[timedelta], None]) -> None:
    first = make()
    first.add_user("anna", "analyst", PASSWORD)
    for _ in range(3):
        assert first.authenticate("anna", OTHER, "10.0.0.1") is None
    first.close()
    with pytest.raises(LoginThrottled):
        make().authenticate("anna", PASSWORD, "10.0.0.2")


def test_attempts_left_pending_by_a_dead_worker_count_as_failures(
        accounts: Accounts, clock: Callable[[timedelta], None], tmp_path: Path) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    db = sqlite3.connect(tmp_path / "web" / "accounts.db")  # a worker killed while checking three passwords
    with db:
        db.executemany("INSERT INTO login_failures (kind, key, at, pending) VALUES ('name', 'anna', ?, 1)",
                       [("2026-11-20T09:00:00Z",)] * 3)
    db.close()
    clock(timedelta(seconds=61))
    with pytest.raises(LoginThrottled) as refused:
        accounts.authenticate("anna", PASSWORD, "10.0.0.1")
    assert 15 * 60 - 63 <= refused.value.retry_after_s <= 15 * 60 - 61  # failures, not attempts being checked


def test_a_hash_made_with_old_parameters_is_replaced_at_login(make: Callable[..., Accounts], tmp_path: Path) -> None:
    weak = make(hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    weak.add_user("anna", "analyst", PASSWORD)
    weak.close()
    current = make()
    old_hash = _hash_of(tmp_path, "anna")
    assert current.hasher.check_needs_rehash(old_hash)
    assert current.authenticate("anna", PASSWORD, "10.0.0.1") is not None
    new_hash = _hash_of(tmp_path, "anna")
    assert new_hash != old_hash and new_hash.startswith("$argon2id$")
    assert not current.hasher.check_needs_rehash(new_hash)
    assert current.authenticate("anna", PASSWORD, "10.0.0.1") is not None


def test_concurrent_logins_from_threads(make: Callable[..., Accounts]) -> None:
    # Two Accounts on one file stand for two server workers; the threads for their requests.
    workers = [make(login_attempts=4), make(login_attempts=4)]
    workers[0].add_user("anna", "analyst", PASSWORD)
    workers[0].add_user("bo", "analyst", PASSWORD)
    start = threading.Barrier(8)

    def wrong(n: int) -> str:
        start.wait()
        try:
            return "failed" if workers[n % 2].authenticate("anna", OTHER, f"10.1.0.{n}") is None else "in"
        except LoginThrottled:
            return "throttled"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(wrong, range(8)))
    assert outcomes == ["failed"] * 4 + ["throttled"] * 4  # never more failures than allowed

    def right(n: int) -> str:
        start.wait()
        user = workers[n % 2].authenticate("bo", PASSWORD, "10.2.0.1")  # one office behind one address
        assert user is not None and user.name == "bo"
        return workers[n % 2].start_session(user)[0]

    with ThreadPoolExecutor(8) as pool:
        sessions = list(pool.map(right, range(8)))
    assert len(set(sessions)) == 8  # right passwords in parallel are never taken for failures
    assert all(workers[1].session_user(s) is not None for s in sessions)


# --- sessions ------------------------------------------------------------------------------

def test_a_session_carries_its_user_and_csrf_token(accounts: Accounts) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    session_id, csrf = accounts.start_session("anna")
    found = accounts.session_user(session_id)
    assert found is not None and found[0].name == "anna" and found[1] == csrf
    assert csrf_matches(csrf, csrf) and not csrf_matches(csrf, csrf[:-1] + "x") and not csrf_matches(csrf, None)
    assert accounts.session_user(session_id + "x") is None
    assert accounts.session_user("") is None and accounts.session_user(None) is None
    assert accounts.end_session(session_id) and not accounts.end_session(session_id)
    assert accounts.session_user(session_id) is None


def test_sessions_end_after_idle_time(accounts: Accounts, clock: Callable[[timedelta], None]) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    session_id, _ = accounts.start_session("anna")
    clock(timedelta(minutes=50))
    assert accounts.session_user(session_id) is not None  # used: idle time starts again
    clock(timedelta(minutes=50 + 55))
    assert accounts.session_user(session_id) is not None
    clock(timedelta(minutes=50 + 55 + 61))
    assert accounts.session_user(session_id) is None
    assert accounts.session_count() == 0  # an expired session found is deleted


def test_sessions_end_after_their_lifetime_even_in_use(
        make: Callable[..., Accounts], clock: Callable[[timedelta], None]) -> None:
    accounts = make(session_ttl_s=2 * 3600, session_idle_s=3600)
    accounts.add_user("anna", "analyst", PASSWORD)
    session_id, _ = accounts.start_session("anna")
    for minutes in (30, 60, 90, 119):
        clock(timedelta(minutes=minutes))
        assert accounts.session_user(session_id) is not None
    clock(timedelta(minutes=120))
    assert accounts.session_user(session_id) is None


def test_expired_sessions_and_old_failures_are_purged(
        accounts: Accounts, clock: Callable[[timedelta], None]) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    accounts.start_session("anna")
    accounts.authenticate("anna", OTHER, "10.0.0.1")
    clock(timedelta(hours=13))
    assert accounts.purge_expired() == 3  # one session, two failure rows (name and address)
    assert accounts.session_count() == 0


def test_a_new_password_ends_sessions(accounts: Accounts) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    session_id, _ = accounts.start_session("anna")
    accounts.set_password("anna", OTHER)
    assert accounts.session_user(session_id) is None
    assert accounts.authenticate("anna", PASSWORD, "10.0.0.1") is None
    assert accounts.authenticate("anna", OTHER, "10.0.0.1") is not None


# --- API tokens ----------------------------------------------------------------------------

def test_tokens_create_use_revoke(accounts: Accounts, clock: Callable[[timedelta], None]) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    token_id, bearer = accounts.create_token("anna", "nightly export")
    assert bearer.startswith(f"adw_{token_id}_") and len(bearer) > 50
    [listed] = accounts.list_tokens("anna")
    assert listed.label == "nightly export" and listed.last_used_at is None and listed.active
    assert bearer not in json.dumps(listed.to_dict())
    clock(timedelta(minutes=5))
    user = accounts.token_user(bearer)
    assert user is not None and user.name == "anna"
    assert (accounts.list_tokens("anna")[0].last_used_at or "").startswith("2026-11-20T09:05:0")
    for forged in (bearer[:-1] + ("A" if bearer[-1] != "A" else "B"), f"adw_{token_id}_", "adw_", "", "Bearer x",
                   bearer.replace(token_id, "0" * 16), "x" * 1000):
        assert accounts.token_user(forged) is None
    assert accounts.revoke_token(token_id) is True
    assert accounts.revoke_token(token_id) is False
    assert accounts.token_user(bearer) is None
    with pytest.raises(AccountError, match="no API token"):
        accounts.revoke_token("0123456789abcdef")
    with pytest.raises(AccountError, match="label"):
        accounts.create_token("anna", "  ")
    with pytest.raises(UnknownUser):
        accounts.create_token("nobody", "x")


# --- the file ------------------------------------------------------------------------------

def test_the_file_is_0600_in_a_0700_folder_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with Accounts(tmp_path / "home" / "web" / "accounts.db") as accounts:
            accounts.add_user("anna", "analyst", PASSWORD)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "home" / "web").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "home" / "web" / "accounts.db").stat().st_mode) == 0o600


def test_a_file_left_too_open_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "web"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path = folder / "accounts.db"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    Accounts(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_the_file_holds_no_password_session_id_or_token_secret(accounts: Accounts) -> None:
    accounts.add_user("anna", "analyst", PASSWORD)
    session_id, _ = accounts.start_session("anna")
    _, bearer = accounts.create_token("anna", "script")
    secret = bearer.split("_", 2)[2]
    accounts.close()  # checkpoints the WAL: every byte is in the one file
    raw = accounts.path.read_bytes() + b"".join(
        p.read_bytes() for p in accounts.path.parent.glob("accounts.db-*"))
    for plain in (PASSWORD, session_id, secret, bearer):
        assert plain.encode() not in raw
    assert b"$argon2id$" in raw
    assert hashlib.sha256(session_id.encode()).hexdigest().encode() in raw
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in raw


def test_from_settings_reads_the_web_settings(tmp_path: Path) -> None:
    settings = {"ADWATCH_HOME": str(tmp_path / "home"), "ADWATCH_WEB_ACCOUNTS": "",
                "ADWATCH_WEB_SESSION_TTL": "2h", "ADWATCH_WEB_SESSION_IDLE": "20min",
                "ADWATCH_WEB_LOGIN_ATTEMPTS": 7, "ADWATCH_WEB_LOGIN_WINDOW": "1h"}
    with Accounts.from_settings(settings) as accounts:
        assert accounts.path == tmp_path / "home" / "web" / "accounts.db"
        assert accounts.session_ttl == timedelta(hours=2) and accounts.session_idle == timedelta(minutes=20)
        assert accounts.login_attempts == 7 and accounts.login_window == timedelta(hours=1)
    chosen = tmp_path / "elsewhere" / "users.db"
    with Accounts.from_settings({**settings, "ADWATCH_WEB_ACCOUNTS": str(chosen)}) as accounts:
        assert accounts.path == chosen and chosen.exists()


# --- the CLI -------------------------------------------------------------------------------

def users(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_") or k.startswith("ADWATCH_TEST")}
    env = {**inherited, "ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"}
    return subprocess.run([*ADWATCH, "users", *args], input=stdin, capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_cli_manages_users_and_tokens(home: Path) -> None:
    added = users(home, "add", "anna", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    assert users(home, "add", "bo", "--password-stdin", stdin=OTHER + "\n").returncode == 0
    listed = users(home, "list", "--json")
    assert [(u["name"], u["role"], u["disabled"]) for u in json.loads(listed.stdout)] == [
        ("anna", "admin", False), ("bo", "analyst", False)]
    assert "anna" in users(home, "list").stdout

    made = users(home, "token-create", "bo", "--label", "nightly export")
    assert made.returncode == 0, made.stderr
    bearer = made.stdout.strip()
    [token] = json.loads(users(home, "token-list", "bo", "--json").stdout)
    assert bearer.startswith(f"adw_{token['id']}_") and token["label"] == "nightly export"
    assert bearer not in users(home, "token-list", "bo").stdout

    reset = users(home, "reset-password", "bo", "--password-stdin", stdin="a brand new passphrase\r\n")
    assert reset.returncode == 0, reset.stderr
    with Accounts(home / "web" / "accounts.db") as accounts:
        assert accounts.authenticate("bo", "a brand new passphrase", "127.0.0.1") is not None
        assert accounts.authenticate("anna", PASSWORD, "127.0.0.1") is not None
        assert accounts.token_user(bearer) is not None

    assert users(home, "token-revoke", token["id"]).returncode == 0
    assert users(home, "disable", "anna").returncode == 0
    assert json.loads(users(home, "list", "--json").stdout)[0]["disabled"] is True
    with Accounts(home / "web" / "accounts.db") as accounts:
        assert accounts.token_user(bearer) is None
        assert accounts.authenticate("anna", PASSWORD, "127.0.0.1") is None
    assert users(home, "enable", "anna").returncode == 0
    assert stat.S_IMODE((home / "web" / "accounts.db").stat().st_mode) == 0o600


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (("add", "anna", "--password-stdin"), "short\n", "at least 12 characters"),
    (("add", "anna smith", "--password-stdin"), PASSWORD + "\n", "bad user name"),
    (("add", "anna", "--role", "root", "--password-stdin"), PASSWORD + "\n", "bad role"),
    (("add", "anna", "--password-stdin"), "", "no password on stdin"),
    (("add", "anna"), PASSWORD + "\n", "--password-stdin"),  # no terminal: never read a password unasked
    (("reset-password", "nobody", "--password-stdin"), PASSWORD + "\n", "no user 'nobody'"),
    (("disable", "nobody"), "", "no user 'nobody'"),
    (("token-create", "nobody", "--label", "x"), "", "no user 'nobody'"),
    (("token-revoke", "0123456789abcdef"), "", "no API token"),
])
def test_cli_errors_are_one_line_and_exit_2(home: Path, args: tuple[str, ...], stdin: str, message: str) -> None:
    result = users(home, *args, stdin=stdin)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_a_duplicate_before_asking_for_a_password(home: Path) -> None:
    assert users(home, "add", "anna", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    again = users(home, "add", "ANNA")  # no --password-stdin and no terminal: the name is checked first
    assert again.returncode == 2 and "exists already" in again.stderr


def _hash_of(tmp_path: Path, name: str) -> str:
    db = sqlite3.connect(tmp_path / "web" / "accounts.db")
    try:
        return str(db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()[0])
    finally:
        db.close()
