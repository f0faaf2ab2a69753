"""Where alerts go: the log, a JSON-lines file, a webhook, e-mail.

A notifier's ``send`` delivers one alert or raises ``DeliveryFailed`` with a one-line
reason. Retrying, recording and backing off is ``alerts/delivery.py``'s job.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import http.client
import json
import logging
import os
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from alerts.channel_policy import (
    Refused,
    WebhookPolicy,
    confined,
    connect_vetted,
    open_confined,
    redact,
    secret_problem,
    url_refusal,
)
from alerts.model import summary_line
from config.alerts_schema import AlertsConfig, EmailChannel, FileChannel, LogChannel, WebhookChannel
from config.source_schema import SourceProblem

logger = logging.getLogger("adwatch.alerts")
SIGNATURE_HEADER = "X-Adwatch-Signature"
TIMESTAMP_HEADER = "X-Adwatch-Timestamp"


class DeliveryFailed(RuntimeError):
    pass


class DeliveryRefused(DeliveryFailed):
    """The channel points where alerts must not go (alerts/channel_policy.py): nothing was sent,
    and trying again before the config is fixed is pointless."""


class Notifier(Protocol):
    def send(self, alert: dict[str, Any]) -> None: ...


def payload(alert: dict[str, Any]) -> dict[str, Any]:
    """What leaves adwatch: the alert without its delivery bookkeeping."""
    return {k: v for k, v in alert.items() if k not in ("deliveries", "key")} | {"summary": summary_line(alert)}


class LogNotifier:
    def send(self, alert: dict[str, Any]) -> None:
        logger.warning("alert %s: %s", alert["id"], summary_line(alert))


class FileNotifier:
    """Appends one JSON line per alert (fsynced, under a lock, so concurrent crawls interleave whole lines)
    to a file inside ADWATCH_HOME, created 0600 in 0700 folders (alerts/channel_policy.py)."""

    def __init__(self, path: str | Path, home: Path | None = None, where: str = "file channel") -> None:
        self.home = home if home is not None else Path(path).parent  # no home given: the file's own folder
        self.relative = str(path)
        self.path = self.home / path
        self.where = where

    def send(self, alert: dict[str, Any]) -> None:
        line = (json.dumps(payload(alert), ensure_ascii=False, default=str) + "\n").encode("utf-8")
        try:
            fd = open_confined(self.home, self.relative)  # checked again: a symlink may have appeared
        except Refused as exc:
            raise DeliveryRefused(f"{self.where}: refused: {exc}") from None
        except OSError as exc:
            raise DeliveryFailed(f"{self.path}: {exc.strerror or exc}") from exc
        try:
            with os.fdopen(fd, "ab") as out:
                fcntl.flock(out, fcntl.LOCK_EX)
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise DeliveryFailed(f"{self.path}: {exc.strerror or exc}") from exc


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "timestamp.body": a receiver checks both the sender and the freshness."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class _VettedHTTP(http.client.HTTPConnection):
    """Connects to an address of the host that the channel's policy allows, checked at this
    moment, and to that very address (``connect_vetted``): a DNS answer cannot change it."""

    policy = WebhookPolicy()

    def connect(self) -> None:
        self.sock = connect_vetted(self.host, self.port, self.timeout, self.policy)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _VettedHTTPS(http.client.HTTPSConnection, _VettedHTTP):
    """TLS over ``_VettedHTTP.connect`` (HTTPSConnection.connect calls it, then wraps the socket
    and checks the certificate against the host name)."""


class WebhookNotifier:
    """POSTs the alert as JSON with http.client: no redirect is ever followed (a 3xx is a failed
    delivery: it would turn the POST into a GET and carry the signature elsewhere), no proxy
    from the environment is used, and the URL is checked against the channel's policy before
    every send. Errors show ``redact(url)``, never the path, query or a credential."""

    def __init__(self, url: str, secret: bytes | None, timeout: float, *, policy: WebhookPolicy | None = None,
                 authorization: str | None = None, where: str = "webhook") -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.policy = policy or WebhookPolicy()
        self.authorization = authorization
        self.where = where
        self.shown = redact(url)

    def send(self, alert: dict[str, Any]) -> None:
        reason = url_refusal(self.url, self.policy, by_name=False)  # names: by what they resolve to, below
        if reason:
            raise DeliveryRefused(f"{self.where}: refused: {reason}")
        parts = urlsplit(self.url.strip())
        body = json.dumps(payload(alert), ensure_ascii=False, default=str).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "adwatch-alerts/1",
                   "X-Adwatch-Alert": alert["id"], TIMESTAMP_HEADER: timestamp}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = signature(self.secret, timestamp, body)
        if self.authorization:
            headers["Authorization"] = self.authorization
        host = parts.hostname or ""
        # An explicit port always: http.client would read the last group of a bare IPv6 host as one.
        port = parts.port or (443 if parts.scheme == "https" else 80)
        connection: _VettedHTTP = (
            _VettedHTTPS(host, port, timeout=self.timeout, context=ssl.create_default_context())
            if parts.scheme == "https" else _VettedHTTP(host, port, timeout=self.timeout))
        connection.policy = self.policy
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", target, body=body, headers=headers)
            with connection.getresponse() as response:  # its body is not wanted, but it holds the socket
                status, location = response.status, response.getheader("Location")
        except Refused as exc:
            raise DeliveryRefused(f"{self.where}: refused: {exc}") from None
        except http.client.InvalidURL:  # its message quotes the path, where webhook tokens live
            raise DeliveryFailed(f"{self.shown}: the URL cannot be sent (unreadable host, port or path)") from None
        except (http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise DeliveryFailed(f"{self.shown}: {reason}") from exc
        finally:
            connection.close()
        if 300 <= status < 400:
            where = redact(location) if location else "nowhere"
            raise DeliveryFailed(f"{self.shown}: HTTP {status} redirect to {where} (not followed; fix the url)")
        if not 200 <= status < 300:
            raise DeliveryFailed(f"{self.shown}: HTTP {status}")


class EmailNotifier:
    def __init__(self, channel: EmailChannel, password: str | None) -> None:
        self.channel = channel
        self.password = password

    def message(self, alert: dict[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"adwatch alert: {summary_line(alert)}"
        message["From"] = self.channel.sender
        message["To"] = ", ".join(self.channel.to)
        message["X-Adwatch-Alert"] = alert["id"]
        message.set_content(summary_line(alert) + "\n\n"
                            + json.dumps(payload(alert), ensure_ascii=False, indent=2, default=str) + "\n")
        return message

    def send(self, alert: dict[str, Any]) -> None:
        c = self.channel
        try:
            smtp = (smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=ssl.create_default_context())
                    if c.ssl else smtplib.SMTP(c.host, c.port, timeout=c.timeout))
            with smtp:
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if c.username:
                    smtp.login(c.username, self.password or "")  # the schema requires TLS with a login
                smtp.send_message(self.message(alert))
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"smtp {c.host}:{c.port}: {exc}") from exc


def _secret(path: str | None, base: Path) -> str | None:
    """The secret in ``path`` (relative: beside the alerts file); ``Refused`` unless only its owner
    can read it, since a secret readable by all is no secret."""
    if path is None:
        return None
    file = Path(path) if Path(path).is_absolute() else base / path
    problem = secret_problem(file)
    if problem:
        raise Refused(problem)
    return file.read_text(encoding="utf-8").strip()


def _header_value(value: str | None, file: str | None) -> str | None:
    if value is not None and ("\n" in value or "\r" in value or not value):
        raise Refused(f"{file}: must hold one line, the Authorization header's value (e.g. 'Bearer …')")
    return value


def build_notifiers(config: AlertsConfig, *, home: Path, config_file: Path) -> tuple[dict[str, Notifier],
                                                                                      list[SourceProblem]]:
    """One notifier per channel; a channel whose secret cannot be read, or whose file is outside
    ADWATCH_HOME, is left out, with a problem. Relative paths: files inside ADWATCH_HOME, secrets
    beside the alerts file."""
    notifiers: dict[str, Notifier] = {}
    problems = []
    for name, channel in config.channels.items():
        where = f"{config_file}: channels.{name}"
        try:
            if isinstance(channel, LogChannel):
                notifiers[name] = LogNotifier()
            elif isinstance(channel, FileChannel):
                try:
                    confined(home, channel.path)
                except Refused as exc:
                    problems.append(SourceProblem(str(config_file), f"channels.{name}.path", f"refused: {exc}"))
                    continue
                notifiers[name] = FileNotifier(channel.path, home, where)
            elif isinstance(channel, WebhookChannel):
                secret = channel.secret or _secret(channel.secret_file, config_file.parent)
                authorization = _header_value(_secret(channel.authorization_file, config_file.parent),
                                              channel.authorization_file)
                notifiers[name] = WebhookNotifier(channel.url, secret.encode() if secret else None, channel.timeout,
                                                  policy=channel.policy(), authorization=authorization, where=where)
            elif isinstance(channel, EmailChannel):
                notifiers[name] = EmailNotifier(channel, _secret(channel.password_file, config_file.parent))
        except Refused as exc:
            problems.append(SourceProblem(str(config_file), f"channels.{name}", f"refused secret file: {exc}"))
        except OSError as exc:
            problems.append(SourceProblem(str(config_file), f"channels.{name}", f"cannot read secret: {exc}"))
    return notifiers, problems
