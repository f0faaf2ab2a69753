"""``adwatch users add|list|disable|enable|reset-password|token-create|token-list|token-revoke``.

The web server's accounts (``adwatch/web/accounts.py``), kept in ``ADWATCH_WEB_ACCOUNTS``.
A password is never a command-line argument (it would sit in the shell history and in every
``ps`` listing): it is asked for twice on the terminal, or read as one line from stdin with
``--password-stdin`` for scripts.
"""

from __future__ import annotations

import getpass
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.table import Table

from adwatch.output import cell, err, fail, markup, out, print_json
from adwatch.settings import load_settings

if TYPE_CHECKING:
    from adwatch.web.accounts import Accounts

users_app = typer.Typer(help="Web accounts: users, roles, passwords and API tokens.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, on stdout.")]
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the password as one line from stdin.")]
NameArg = Annotated[str, typer.Argument(help="The user name (letters, digits and . _ - @).")]


def _stop(message: str) -> NoReturn:
    fail(message)
    raise typer.Exit(2)


@contextmanager
def _accounts() -> Iterator[Accounts]:
    from adwatch.web.accounts import AccountError, Accounts

    settings = load_settings()
    try:
        accounts = Accounts.from_settings(settings)
    except (OSError, ValueError) as exc:  # a folder in the way, no permission, a bad duration setting
        _stop(f"cannot open the accounts file: {exc}")
    except sqlite3.DatabaseError as exc:
        _stop(f"the accounts file is damaged or not a database ({exc}): restore it from a backup or move it aside")
    try:
        yield accounts
    except AccountError as exc:
        _stop(str(exc))
    except sqlite3.DatabaseError as exc:
        _stop(f"the accounts file {accounts.path} failed: {exc}")
    finally:
        accounts.close()


def _password(from_stdin: bool) -> str:
    from adwatch.web.accounts import AccountError, check_password

    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            _stop("no password on stdin (one line expected)")
    else:
        if not sys.stdin.isatty():  # getpass would fall back to echoing what it reads
            _stop("no terminal to ask for the password: give it as one line on stdin with --password-stdin")
        password = getpass.getpass("New password: ")
        if getpass.getpass("Same again: ") != password:
            _stop("the two passwords differ; nothing changed")
    try:
        return check_password(password)
    except AccountError as exc:
        _stop(str(exc))


def _audited(action: str, params: dict[str, object]) -> None:
    """A change to who may see the data goes into the audit log too, as the operator who ran it
    (``cli:`` and the system user). Never stops the change, which is made: a store that cannot
    take the entry gets one warning line."""
    from adwatch.web.audit import AuditUnavailable, record
    from index import open_store
    from index.open import StoreConfigError

    operator = f"cli:{getpass.getuser()}"
    try:
        from adwatch.settings import load_store_config

        store = open_store(load_store_config())
        try:
            record(store, operator, action, params, None)
        finally:
            store.close()
    except (AuditUnavailable, StoreConfigError, OSError) as exc:
        err.print(markup(f"warning: the audit log did not get this change ({exc})"))


@users_app.command()
def add(
    name: NameArg,
    role: Annotated[str, typer.Option(help="analyst (search and read) or admin (also users and the audit log).")]
    = "analyst",
    password_stdin: StdinOpt = False,
) -> None:
    """Add a user; the password is asked for twice (or read from stdin with --password-stdin)."""
    from adwatch.web.accounts import check_name, check_role

    with _accounts() as accounts:
        check_name(name)
        check_role(role)
        if accounts.get_user(name) is not None:  # say so before asking for a password
            _stop(f"user {name!r} exists already")
        user = accounts.add_user(name, role, _password(password_stdin))
    _audited("user.add", {"name": user.name, "role": user.role})
    err.print(markup(f"user {user.name} added ({user.role})"))


@users_app.command("list")
def list_users(as_json: JsonOpt = False) -> None:
    """Users, their roles and whether they may log in."""
    with _accounts() as accounts:
        users = accounts.list_users()
    if as_json:
        print_json([user.to_dict() for user in users])
        return
    table = Table(title=f"{len(users)} users", title_justify="left")
    for column in ("name", "role", "status", "created"):
        table.add_column(column)
    for user in users:
        table.add_row(cell(user.name), cell(user.role), "disabled" if user.disabled else "active",
                      cell(user.created_at))
    out.print(table)


@users_app.command()
def disable(name: NameArg) -> None:
    """Stop a user: no login, their sessions end and their API tokens are revoked."""
    with _accounts() as accounts:
        user = accounts.disable(name)
    _audited("user.disable", {"name": user.name})
    err.print(markup(f"user {user.name} disabled; sessions ended, API tokens revoked"))


@users_app.command()
def enable(name: NameArg) -> None:
    """Let a disabled user log in again (revoked API tokens stay revoked)."""
    with _accounts() as accounts:
        user = accounts.enable(name)
    _audited("user.enable", {"name": user.name})
    err.print(markup(f"user {user.name} enabled"))


@users_app.command("reset-password")
def reset_password(name: NameArg, password_stdin: StdinOpt = False) -> None:
    """Set a new password; the user's browser sessions end."""
    with _accounts() as accounts:
        if accounts.get_user(name) is None:
            _stop(f"no user {name!r}")
        user = accounts.set_password(name, _password(password_stdin))
    _audited("user.password", {"name": user.name})
    err.print(markup(f"password of {user.name} changed; their sessions ended"))


@users_app.command("token-create")
def token_create(
    name: NameArg,
    label: Annotated[str, typer.Option(help="What the token is for (shown in token-list).")],
) -> None:
    """Create an API token for a user and print it on stdout, once: it cannot be shown again."""
    with _accounts() as accounts:
        token_id, bearer = accounts.create_token(name, label)
    _audited("token.create", {"name": name, "token": token_id, "label": label})
    sys.stdout.write(bearer + "\n")
    sys.stdout.flush()
    err.print(markup(f"token {token_id} for {name}: shown this once; send it as 'Authorization: Bearer …'"))


@users_app.command("token-list")
def token_list(name: NameArg, as_json: JsonOpt = False) -> None:
    """A user's API tokens (never their secrets)."""
    with _accounts() as accounts:
        tokens = accounts.list_tokens(name)
    if as_json:
        print_json([token.to_dict() for token in tokens])
        return
    table = Table(title=f"{len(tokens)} API tokens of {markup(name)}", title_justify="left")
    for column in ("id", "label", "created", "last used", "revoked"):
        table.add_column(column)
    for token in tokens:
        table.add_row(cell(token.id), cell(token.label), cell(token.created_at), cell(token.last_used_at or ""),
                      cell(token.revoked_at or ""))
    out.print(table)


@users_app.command("token-revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (adwatch users token-list).")]) -> None:
    """Revoke an API token: requests bearing it are refused from now on."""
    with _accounts() as accounts:
        revoked = accounts.revoke_token(token_id)
    _audited("token.revoke", {"token": token_id, "revoked": revoked})
    err.print(markup(f"token {token_id} revoked" if revoked else f"token {token_id} was revoked already"))
