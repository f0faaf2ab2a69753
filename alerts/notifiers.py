"""Where alerts go: the log, a JSON-lines file, a webhook, e-mail.

A notifier's ``send`` delivers one alert or raises ``DeliveryFailed`` with a one-line
reason. Retrying, recording and backing off is ``alerts/delivery.py``'s job.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from alerts.model import summary_line
from config.alerts_schema import AlertsConfig, EmailChannel, FileChannel, LogChannel, WebhookChannel
from config.source_schema import SourceProblem

logger = logging.getLogger("adwatch.alerts")
SIGNATURE_HEADER = "X-Adwatch-Signature"
TIMESTAMP_HEADER = "X-Adwatch-Timestamp"


class DeliveryFailed(RuntimeError):
    pass


class Notifier(Protocol):
    def send(self, alert: dict[str, Any]) -> None: ...


def payload(alert: dict[str, Any]) -> dict[str, Any]:
    """What leaves adwatch: the alert without its delivery bookkeeping."""
    return {k: v for k, v in alert.items() if k not in ("deliveries", "key")} | {"summary": summary_line(alert)}


class LogNotifier:
    def send(self, alert: dict[str, Any]) -> None:
        logger.warning("alert %s: %s", alert["id"], summary_line(alert))


class FileNotifier:
    """Appends one JSON line per alert (fsynced, under a lock, so concurrent crawls interleave whole lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, alert: dict[str, Any]) -> None:
        line = json.dumps(payload(alert), ensure_ascii=False, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                fcntl.flock(out, fcntl.LOCK_EX)
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise DeliveryFailed(f"{self.path}: {exc.strerror or exc}") from exc


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "timestamp.body": a receiver checks both the sender and the freshness."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without the alert and carry the signature
    to another host: it is a failed delivery, to be fixed in the config."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise DeliveryFailed(f"{req.full_url}: HTTP {code} redirect to {newurl} (not followed; fix the url)")


_OPENER = urllib.request.build_opener(_NoRedirects)


class WebhookNotifier:
    def __init__(self, url: str, secret: bytes | None, timeout: float) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def send(self, alert: dict[str, Any]) -> None:
        body = json.dumps(payload(alert), ensure_ascii=False, default=str).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "adwatch-alerts/1",
                   "X-Adwatch-Alert": alert["id"], TIMESTAMP_HEADER: timestamp}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = signature(self.secret, timestamp, body)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"{self.url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryFailed(f"{self.url}: {reason}") from exc
        if not 200 <= status < 300:
            raise DeliveryFailed(f"{self.url}: HTTP {status}")


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
    if path is None:
        return None
    file = Path(path) if Path(path).is_absolute() else base / path
    return file.read_text(encoding="utf-8").strip()


def build_notifiers(config: AlertsConfig, *, home: Path, config_file: Path) -> tuple[dict[str, Notifier],
                                                                                      list[SourceProblem]]:
    """One notifier per channel; a channel whose secret cannot be read is left out, with a problem.
    Relative paths: files inside ADWATCH_HOME, secrets beside the alerts file."""
    notifiers: dict[str, Notifier] = {}
    problems = []
    for name, channel in config.channels.items():
        try:
            if isinstance(channel, LogChannel):
                notifiers[name] = LogNotifier()
            elif isinstance(channel, FileChannel):
                path = Path(channel.path)
                notifiers[name] = FileNotifier(path if path.is_absolute() else home / path)
            elif isinstance(channel, WebhookChannel):
                secret = channel.secret or _secret(channel.secret_file, config_file.parent)
                notifiers[name] = WebhookNotifier(channel.url, secret.encode() if secret else None, channel.timeout)
            elif isinstance(channel, EmailChannel):
                notifiers[name] = EmailNotifier(channel, _secret(channel.password_file, config_file.parent))
        except OSError as exc:
            problems.append(SourceProblem(str(config_file), f"channels.{name}", f"cannot read secret: {exc}"))
    return notifiers, problems
