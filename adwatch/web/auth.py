"""Who is asking: a browser session (cookie) or an API token (bearer), and what they may do.

Everything but the login page and the static files needs one of the two. Pages answer a
missing login with a redirect to the login page, the API with 401; an analyst asking for
an admin page gets 403. A form posted with a session cookie must carry the session's CSRF
token (SameSite=Strict already keeps other sites' forms from sending the cookie; the token
is the second lock). Requests with a bearer token carry no cookie, so need no CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from adwatch.web.security import same_token

SESSION_COOKIE = "adwatch_session"
LOGIN_CSRF_COOKIE = "adwatch_login_csrf"


@dataclass
class Principal:
    name: str
    role: str
    via: str  # "session" or "token"
    csrf: str | None = None
    session_id: str | None = None
    prefs: dict[str, Any] = field(default_factory=dict)

    @property
    def admin(self) -> bool:
        return self.role == "admin"


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    pass


class CsrfRejected(Exception):
    pass


def _user_fields(user: Any) -> tuple[str, str, dict[str, Any]]:
    if isinstance(user, dict):
        return str(user["name"]), str(user["role"]), dict(user.get("settings") or user.get("prefs") or {})
    return str(user.name), str(user.role), dict(getattr(user, "settings", None) or {})


def principal_of(request: Request) -> Principal | None:
    accounts = request.app.state.accounts
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        user = accounts.token_user(header[7:].strip())
        if user is None:
            return None
        name, role, prefs = _user_fields(user)
        return Principal(name, role, "token", prefs=prefs)
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    found = accounts.session_user(session_id)
    if found is None:
        return None
    user, csrf = found
    name, role, prefs = _user_fields(user)
    return Principal(name, role, "session", csrf=csrf, session_id=session_id, prefs=prefs)


def require_user(request: Request) -> Principal:
    """The principal the middleware found (``app.py``), or LoginRequired."""
    who = getattr(request.state, "principal", None)
    if who is None:
        raise LoginRequired()
    return who


def require_admin(request: Request) -> Principal:
    who = require_user(request)
    if not who.admin:
        raise Forbidden()
    return who


async def check_csrf(request: Request, who: Principal) -> None:
    """For a POST: a session's form or fetch must send the session's token back."""
    if who.via != "session":
        return
    given = request.headers.get("x-csrf-token")
    if given is None and not request.url.path.startswith("/api/"):  # the API's bodies are JSON: header only
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if not same_token(who.csrf, given):
        raise CsrfRejected()
