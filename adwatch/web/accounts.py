"""The web server's accounts: users and roles, password hashes, API tokens, sessions, login throttling.

They live in their own SQLite file (``ADWATCH_WEB_ACCOUNTS``, by default
``ADWATCH_HOME/web/accounts.db``), 0600 in a 0700 folder, not in the ad store: they are the
server's own state, like a password file, and must not travel with an export of the data.

What a stolen copy of that file gives an attacker is kept small:
- passwords are Argon2id hashes (argon2-cffi's ``PasswordHasher`` and its defaults), rehashed at
  the next login when the parameters change;
- session ids and API token secrets are 256-bit random values stored only as their SHA-256
  (a fast hash is enough for values nobody can guess; what matters is that the file holds no
  live credential);
- failed logins are counted in the file (per user name and per client address), so throttling
  holds across restarts and across the server's worker processes.

Every method is safe from several threads (one connection behind a lock; Argon2 runs outside
it) and several processes (WAL, a busy timeout, short ``BEGIN IMMEDIATE`` transactions).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from adwatch.core.clock import iso, parse_iso, utcnow
from adwatch.core.durations import parse_duration
from adwatch.core.private import ensure_private_dir, open_private

logger = logging.getLogger(__name__)

ROLES = ("analyst", "admin")
MIN_PASSWORD = 12
# Argon2 cost does not grow with the length, but nobody types more: a bound on what a form may send.
MAX_PASSWORD = 1024
NAME_RULE = "1-64 characters: ASCII letters, digits and . _ - @"
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}", re.ASCII)
_PREFERENCE_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_MAX_PREFERENCES_BYTES = 16_384
TOKEN_PREFIX = "adw"
_TOKEN_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)
_MAX_LABEL = 100
# Sessions and tokens record their use at most this often: a page makes many requests, and
# each write would take the file's write lock from every other worker.
TOUCH_EVERY_S = 60
# Throttling keys are what strangers type: stored short.
_MAX_KEY = 128
# A login waits at most this long for parallel attempts on its name or address to be checked;
# an attempt still pending after _PENDING_STALE_S was left by a worker that died: a failure.
_RESERVE_WAIT_S = 10.0
_PENDING_STALE_S = 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('analyst', 'admin')),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL COLLATE NOCASE REFERENCES users(name),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL COLLATE NOCASE REFERENCES users(name),
    label TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens(user);
CREATE TABLE IF NOT EXISTS login_failures (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at TEXT NOT NULL,
    pending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS login_failures_by_key ON login_failures(kind, key, at);
"""
_SCHEMA_VERSION = 1


class AccountError(ValueError):
    """A request the accounts cannot carry out; the message is one line a person can act on."""


class UnknownUser(AccountError):
    pass


class UserExists(AccountError):
    pass


class LoginThrottled(Exception):
    """Too many failed logins for this user name (``by == "name"``) or from this client address
    (``by == "client"``) within the window: refused, even with the right password, for
    ``retry_after_s`` more seconds. The app answers 429 and audits it."""

    def __init__(self, by: str, retry_after_s: int) -> None:
        self.by = by
        self.retry_after_s = retry_after_s
        what = "this user name" if by == "name" else "this address"
        super().__init__(f"too many failed logins for {what}; try again in {retry_after_s} s")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    disabled: bool
    created_at: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "disabled": self.disabled,
                "created_at": self.created_at, "settings": dict(self.settings)}


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: never its secret (only its hash is kept)."""

    id: str
    user: str
    label: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user, "label": self.label, "created_at": self.created_at,
                "last_used_at": self.last_used_at, "revoked_at": self.revoked_at}


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AccountError(f"bad user name {name!r}: {NAME_RULE}")
    return name


def check_role(role: object) -> str:
    if role not in ROLES:
        raise AccountError(f"bad role {role!r}: {' or '.join(ROLES)}")
    return str(role)


def check_password(password: object) -> str:
    if not isinstance(password, str):
        raise AccountError("a password is text")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password too short: it needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password too long: at most {MAX_PASSWORD} characters")
    return password


def csrf_matches(expected: str, given: str | None) -> bool:
    """A form's CSRF token against the session's, in constant time."""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """What an unknown user's password is checked against, so that a wrong name costs as long as a
    wrong password and the time of an answer does not tell which names exist."""
    return hasher.hash(secrets.token_urlsafe(24))


def _user(row: sqlite3.Row) -> User:
    try:
        settings = json.loads(row["settings"] or "{}")
    except ValueError:
        settings = {}
    return User(name=row["name"], role=row["role"], disabled=bool(row["disabled"]),
                created_at=row["created_at"], settings=settings if isinstance(settings, dict) else {})


def _token(row: sqlite3.Row) -> TokenInfo:
    return TokenInfo(id=row["id"], user=row["user"], label=row["label"], created_at=row["created_at"],
                     last_used_at=row["last_used_at"], revoked_at=row["revoked_at"])


class Accounts:
    def __init__(self, path: str | Path, session_ttl_s: float = 12 * 3600, session_idle_s: float = 3600,
                 login_attempts: int = 5, login_window_s: float = 15 * 60, *, own_folder: bool = True,
                 hasher: PasswordHasher | None = None, busy_timeout_s: float = 30.0) -> None:
        """``own_folder``: the folder is adwatch's (the default ``ADWATCH_HOME/web``), so one left too
        open is tightened to 0700; a folder the operator chose is only created 0700 when missing."""
        if login_attempts < 1:
            raise ValueError("login_attempts must be 1 or more")
        self.path = Path(path)
        self.session_ttl = timedelta(seconds=session_ttl_s)
        self.session_idle = timedelta(seconds=session_idle_s)
        self.login_attempts = int(login_attempts)
        self.login_window = timedelta(seconds=login_window_s)
        self.hasher = hasher or PasswordHasher()
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.RLock()
        ensure_private_dir(self.path.parent, tighten_existing=own_folder)
        # Made (or tightened) 0600 before SQLite opens it; -wal and -shm take the file's mode.
        os.close(open_private(self.path, os.O_RDWR | os.O_CREAT))
        self._pid = os.getpid()
        self._db = self._connect()

    @classmethod
    def from_settings(cls, settings: Any) -> Accounts:
        chosen = str(settings.get("ADWATCH_WEB_ACCOUNTS") or "")
        path = Path(chosen) if chosen else Path(str(settings.get("ADWATCH_HOME"))) / "web" / "accounts.db"

        def seconds(name: str) -> float:
            return parse_duration(str(settings.get(name))).total_seconds()

        return cls(path, session_ttl_s=seconds("ADWATCH_WEB_SESSION_TTL"),
                   session_idle_s=seconds("ADWATCH_WEB_SESSION_IDLE"),
                   login_attempts=int(settings.get("ADWATCH_WEB_LOGIN_ATTEMPTS")),
                   login_window_s=seconds("ADWATCH_WEB_LOGIN_WINDOW"), own_folder=not chosen)

    # --- the file ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None,
                             check_same_thread=False)  # shared by threads, one at a time (self._lock)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")  # a disable or a revocation must survive a power cut
            if int(db.execute("PRAGMA user_version").fetchone()[0]) < _SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")
                try:  # statement by statement: executescript would commit on its own
                    for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except BaseException:
            db.close()
            raise
        return db

    def _conn(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:  # a forked worker never shares the parent's SQLite connection
            self._pid = os.getpid()
            self._db = self._connect()
        return self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; taken IMMEDIATE so that read-then-write is atomic across processes."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- users ------------------------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str) -> User:
        check_name(name)
        check_role(role)
        hashed = self.hasher.hash(check_password(password))  # slow: outside the transaction
        now = iso(utcnow())
        try:
            with self._write() as db:
                db.execute("INSERT INTO users (name, role, password_hash, created_at, password_changed_at)"
                           " VALUES (?, ?, ?, ?, ?)", (name, role, hashed, now, now))
        except sqlite3.IntegrityError:
            raise UserExists(f"user {name!r} exists already (names are compared without case)") from None
        return User(name=name, role=role, disabled=False, created_at=now, settings={})

    def get_user(self, name: str) -> User | None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            return None
        rows = self._rows("SELECT * FROM users WHERE name = ?", (name,))
        return _user(rows[0]) if rows else None

    def _existing(self, name: str) -> User:
        user = self.get_user(name)
        if user is None:
            raise UnknownUser(f"no user {name!r}")
        return user

    def list_users(self) -> list[User]:
        return [_user(row) for row in self._rows("SELECT * FROM users ORDER BY name")]

    def disable(self, name: str) -> User:
        """Disable ``name``: their sessions end now and their API tokens are revoked."""
        user = self._existing(name)
        now = iso(utcnow())
        with self._write() as db:
            db.execute("UPDATE users SET disabled = 1 WHERE name = ?", (user.name,))
            db.execute("DELETE FROM sessions WHERE user = ?", (user.name,))
            db.execute("UPDATE tokens SET revoked_at = ? WHERE user = ? AND revoked_at IS NULL", (now, user.name))
        return self._existing(name)

    def enable(self, name: str) -> User:
        user = self._existing(name)
        with self._write() as db:
            db.execute("UPDATE users SET disabled = 0 WHERE name = ?", (user.name,))
        return self._existing(name)

    def set_role(self, name: str, role: str) -> User:
        user = self._existing(name)
        check_role(role)
        with self._write() as db:
            db.execute("UPDATE users SET role = ? WHERE name = ?", (role, user.name))
        return self._existing(name)

    def set_password(self, name: str, password: str) -> User:
        """A new password; the user's sessions end (a reset often follows a suspected leak). Tokens stay."""
        user = self._existing(name)
        hashed = self.hasher.hash(check_password(password))
        with self._write() as db:
            db.execute("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE name = ?",
                       (hashed, iso(utcnow()), user.name))
            db.execute("DELETE FROM sessions WHERE user = ?", (user.name,))
        return user

    def set_preference(self, name: str, key: str, value: Any) -> dict[str, Any]:
        """Set one per-user setting (``reveal_images``, ``lang``, …); None removes it. Returns them all."""
        if not isinstance(key, str) or not _PREFERENCE_KEY.fullmatch(key):
            raise AccountError(f"bad setting name {key!r}: lower-case letters, digits and _, at most 64")
        user = self._existing(name)
        with self._write() as db:  # read and write in one transaction: two tabs never lose an update
            row = db.execute("SELECT settings FROM users WHERE name = ?", (user.name,)).fetchone()
            try:
                current = json.loads(row["settings"] or "{}")
            except ValueError:
                current = {}
            settings = current if isinstance(current, dict) else {}
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
            try:
                text = json.dumps(settings, ensure_ascii=False, allow_nan=False, sort_keys=True)
            except (TypeError, ValueError):
                raise AccountError(f"setting {key!r}: the value must be plain JSON") from None
            if len(text.encode()) > _MAX_PREFERENCES_BYTES:
                raise AccountError(f"setting {key!r}: too large")
            db.execute("UPDATE users SET settings = ? WHERE name = ?", (text, user.name))
        return settings

    # --- login ------------------------------------------------------------------------------
    def authenticate(self, name: str, password: str, client: str | None = None) -> User | None:
        """The user when ``name`` and ``password`` match an enabled account, else None.

        Raises LoginThrottled when the name or the client address has had ``login_attempts``
        failures within the window; then the password is not even checked. Failures are
        counted per name whether or not the name exists, so throttling tells no names."""
        name = name if isinstance(name, str) else ""
        keys = [("name", name.lower()[:_MAX_KEY])]
        if client:
            keys.append(("client", str(client)[:_MAX_KEY]))
        attempt = self._reserve(keys)
        user: User | None = None
        try:
            user = self._check(name, password)
        finally:
            with self._write() as db:
                marks = ",".join("?" * len(attempt))
                if user is not None:  # a success is no failure
                    db.execute(f"DELETE FROM login_failures WHERE rowid IN ({marks})", attempt)
                else:
                    db.execute(f"UPDATE login_failures SET pending = 0 WHERE rowid IN ({marks})", attempt)
        return user

    def _reserve(self, keys: list[tuple[str, str]]) -> list[int]:
        """Count this attempt (as pending) against each key, or raise LoginThrottled.

        The count and the reservation are one transaction, and an attempt waits while attempts
        still being checked could bring its keys to the limit: parallel guesses from several
        threads or workers never get past the limit, and parallel right passwords (an office
        behind one address at nine o'clock) are not refused for failures that did not happen."""
        deadline = time.monotonic() + _RESERVE_WAIT_S
        while True:
            now = utcnow()
            stale = iso(now - timedelta(seconds=_PENDING_STALE_S))  # left by a worker that died mid-check
            busy = ""
            with self._write() as db:
                for kind, key in keys:
                    rows = db.execute("SELECT at, pending FROM login_failures WHERE kind = ? AND key = ? AND at > ?"
                                      " ORDER BY at", (kind, key, iso(now - self.login_window))).fetchall()
                    failed = [parse_iso(r["at"]) for r in rows if not r["pending"] or r["at"] <= stale]
                    if len(failed) >= self.login_attempts:
                        # Open again when enough of these failures have left the window.
                        frees_at = failed[len(failed) - self.login_attempts] + self.login_window
                        raise LoginThrottled(kind, max(1, math.ceil((frees_at - now).total_seconds())))
                    if len(rows) >= self.login_attempts:
                        busy = busy or kind
                if not busy:
                    return [int(db.execute("INSERT INTO login_failures (kind, key, at, pending) VALUES (?, ?, ?, 1)",
                                           (kind, key, iso(now))).lastrowid or 0) for kind, key in keys]
            if time.monotonic() > deadline:
                raise LoginThrottled(busy, 1)
            time.sleep(0.05)

    def _check(self, name: str, password: str) -> User | None:
        row = None
        if _NAME.fullmatch(name):
            found = self._rows("SELECT * FROM users WHERE name = ?", (name,))
            row = found[0] if found else None
        usable = isinstance(password, str) and 0 < len(password) <= MAX_PASSWORD
        # An unknown name is checked against a dummy hash: it costs as long as a wrong password.
        stored = row["password_hash"] if row is not None else _dummy_hash(self.hasher)
        matched = self._verify(stored, password if usable else "-")
        if not (matched and usable and row is not None) or row["disabled"]:
            return None
        if self.hasher.check_needs_rehash(stored):
            self._rehash(row["name"], stored, password)
        return _user(row)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except VerificationError:  # the mismatch, and a hash that cannot be checked
            return False
        except InvalidHashError:
            logger.warning("a stored password hash in %s is not an Argon2 hash; that user cannot log in",
                           self.path)
            return False

    def _rehash(self, name: str, old: str, password: str) -> None:
        hashed = self.hasher.hash(password)
        with self._write() as db:  # only if nobody changed the password meanwhile
            db.execute("UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?", (hashed, name, old))

    def recent_failures(self, name: str | None = None, client: str | None = None) -> int:
        """Failed logins within the window for a user name or a client address (for the admin page)."""
        if name is not None:
            kind, key = "name", name.lower()[:_MAX_KEY]
        else:
            kind, key = "client", str(client)[:_MAX_KEY]
        rows = self._rows("SELECT count(*) FROM login_failures WHERE kind = ? AND key = ? AND at > ?",
                          (kind, key, iso(utcnow() - self.login_window)))
        return int(rows[0][0])

    # --- sessions ---------------------------------------------------------------------------
    def start_session(self, user: User | str) -> tuple[str, str]:
        """A new browser session for an enabled user: (session id for the cookie, CSRF token).
        Only the id's SHA-256 is stored. Expired sessions are purged on the way."""
        account = self._existing(user.name if isinstance(user, User) else user)
        if account.disabled:
            raise AccountError(f"user {account.name!r} is disabled")
        session_id = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = utcnow()
        with self._write() as db:
            self._purge(db, now)
            db.execute("INSERT INTO sessions (id_hash, user, csrf_token, created_at, last_seen_at)"
                       " VALUES (?, ?, ?, ?, ?)", (_sha256(session_id), account.name, csrf_token, iso(now), iso(now)))
        return session_id, csrf_token

    def session_user(self, session_id: str | None) -> tuple[User, str] | None:
        """(user, CSRF token) of a live session, else None. A session ends ``session_ttl`` after it
        started or ``session_idle`` after its last use (recorded at most once a minute, so the idle
        limit is kept to within that minute)."""
        if not session_id or not isinstance(session_id, str) or len(session_id) > 256:
            return None
        id_hash = _sha256(session_id)
        rows = self._rows("SELECT s.created_at AS s_created, s.last_seen_at, s.csrf_token, u.* FROM sessions s"
                          " JOIN users u ON u.name = s.user WHERE s.id_hash = ?", (id_hash,))
        if not rows:
            return None
        row = rows[0]
        now = utcnow()
        last_seen = parse_iso(row["last_seen_at"])
        if row["disabled"] or self._expired(parse_iso(row["s_created"]), last_seen, now):
            with self._write() as db:
                db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))
            return None
        if (now - last_seen).total_seconds() >= TOUCH_EVERY_S:
            with self._write() as db:
                db.execute("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?", (iso(now), id_hash))
        return _user(row), row["csrf_token"]

    def _expired(self, created: datetime, last_seen: datetime, now: datetime) -> bool:
        return now - created >= self.session_ttl or now - last_seen >= self.session_idle

    def end_session(self, session_id: str | None) -> bool:
        if not session_id or not isinstance(session_id, str):
            return False
        with self._write() as db:
            return db.execute("DELETE FROM sessions WHERE id_hash = ?", (_sha256(session_id),)).rowcount > 0

    def end_user_sessions(self, name: str) -> int:
        user = self._existing(name)
        with self._write() as db:
            return db.execute("DELETE FROM sessions WHERE user = ?", (user.name,)).rowcount

    def purge_expired(self) -> int:
        """Delete expired sessions and failed logins older than the window; returns how many rows went."""
        with self._write() as db:
            return self._purge(db, utcnow())

    def _purge(self, db: sqlite3.Connection, now: datetime) -> int:
        gone = db.execute("DELETE FROM sessions WHERE created_at <= ? OR last_seen_at <= ?",
                          (iso(now - self.session_ttl), iso(now - self.session_idle))).rowcount
        gone += db.execute("DELETE FROM login_failures WHERE at <= ?", (iso(now - self.login_window),)).rowcount
        return gone

    def session_count(self, name: str | None = None) -> int:
        if name is None:
            return int(self._rows("SELECT count(*) FROM sessions")[0][0])
        return int(self._rows("SELECT count(*) FROM sessions WHERE user = ?", (name,))[0][0])

    # --- API tokens -------------------------------------------------------------------------
    def create_token(self, user: User | str, label: str) -> tuple[str, str]:
        """A new API token: (token id, the bearer token ``adw_<id>_<secret>``). The bearer token is
        shown this once: only the secret's SHA-256 is kept."""
        account = self._existing(user.name if isinstance(user, User) else user)
        if account.disabled:
            raise AccountError(f"user {account.name!r} is disabled")
        label = " ".join(str(label or "").split())
        if not label or len(label) > _MAX_LABEL or not label.isprintable():
            raise AccountError(f"a token label is 1-{_MAX_LABEL} printable characters")
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self._write() as db:
            db.execute("INSERT INTO tokens (id, user, label, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                       (token_id, account.name, label, _sha256(secret), iso(utcnow())))
        return token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def list_tokens(self, user: User | str) -> list[TokenInfo]:
        account = self._existing(user.name if isinstance(user, User) else user)
        return [_token(row) for row in self._rows(
            "SELECT * FROM tokens WHERE user = ? ORDER BY created_at, id", (account.name,))]

    def get_token(self, token_id: str) -> TokenInfo | None:
        rows = self._rows("SELECT * FROM tokens WHERE id = ?", (str(token_id),))
        return _token(rows[0]) if rows else None

    def revoke_token(self, token_id: str) -> bool:
        """True when the token was active and is revoked now; False when it was revoked already.
        AccountError for an id that was never issued."""
        with self._write() as db:
            row = db.execute("SELECT revoked_at FROM tokens WHERE id = ?", (str(token_id),)).fetchone()
            if row is None:
                raise AccountError(f"no API token {token_id!r}")
            if row["revoked_at"] is not None:
                return False
            db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", (iso(utcnow()), str(token_id)))
        return True

    def token_user(self, bearer: str | None) -> User | None:
        """The user of a live API token (``adw_<id>_<secret>``), else None; records its use."""
        if not bearer or not isinstance(bearer, str) or len(bearer) > 256:
            return None
        prefix, _, rest = bearer.strip().partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != TOKEN_PREFIX or not _TOKEN_ID.fullmatch(token_id) or not secret:
            return None
        rows = self._rows("SELECT t.secret_hash, t.revoked_at, t.last_used_at, u.* FROM tokens t"
                          " JOIN users u ON u.name = t.user WHERE t.id = ?", (token_id,))
        stored = rows[0]["secret_hash"] if rows else _sha256("")
        if not hmac.compare_digest(stored.encode(), _sha256(secret).encode()) or not rows:
            return None
        row = rows[0]
        if row["revoked_at"] is not None or row["disabled"]:
            return None
        now = utcnow()
        if row["last_used_at"] is None or (now - parse_iso(row["last_used_at"])).total_seconds() >= TOUCH_EVERY_S:
            with self._write() as db:
                db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (iso(now), token_id))
        return _user(row)
