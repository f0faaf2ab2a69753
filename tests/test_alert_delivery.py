"""Alert delivery against real local servers: a webhook receiver and an SMTP server (aiosmtpd),
including a receiver that is down and comes back."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from alerts.delivery import Dispatcher
from alerts.engine import AlertEngine, load_config
from alerts.model import alert
from alerts.notifiers import EmailNotifier, build_notifiers
from config.alerts_schema import EmailChannel
from config.settings import ADWATCH_DEFAULT_REGION
from geo.highways import roads
from index.sqlite import SqliteStore
from tests.conftest import run_adwatch, run_json

# A receiver on this machine over plain HTTP: the channel must allow both (alerts/channel_policy.py).
LOCAL = "allow_http: true, allow_loopback: true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """A webhook receiver on loopback: records requests; answers with the queued statuses, then 200."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self.location = "http://127.0.0.1:9/elsewhere"  # where a 3xx answer points
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                receiver.requests.append({"headers": dict(self.headers), "body": b"", "method": "GET"})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    yield found
    found.stop()


def setup(tmp_path: Path, channels: str, home: Path | None = None) -> tuple[AlertEngine, SqliteStore]:
    (tmp_path / "hook.secret").write_text("s3cret\n", encoding="utf-8")
    (tmp_path / "hook.secret").chmod(0o600)  # a secret readable by others is refused
    path = tmp_path / "alerts.yaml"
    path.write_text("new_numbers: {baseline_first_crawl: false}\n"
                    "rules:\n  watched: {type: new_number_in_town, towns: [Gävle]}\n"
                    f"channels:\n{channels}", encoding="utf-8")
    config, problems = load_config(path, ADWATCH_DEFAULT_REGION)
    assert problems == []
    store = SqliteStore(tmp_path / "d.db")
    notifiers, more = build_notifiers(config, home=home or tmp_path, config_file=path)
    assert more == []
    return AlertEngine(config, store, roads(), Dispatcher(store, notifiers, config, sleep=lambda s: None)), store


def raise_alert(engine: AlertEngine, n: int) -> dict[str, Any]:
    ad = {"id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "town": "Gävle", "road": "E4", "road_km": 0.0,
          "posted_at": "2026-11-20T12:00:00Z"}
    (stored,) = engine.store_alerts([alert("watched", "new_number_in_town", f"+4670174060{n}", ad, town="Gävle",
                                           road="E4", km=0.0, details={})])
    return stored


def test_webhook_posts_json_signed_with_the_secret(tmp_path: Path, receiver: Receiver) -> None:
    receiver.start()
    engine, store = setup(tmp_path, f"  hook: {{type: webhook, url: '{receiver.url}', {LOCAL}, "
                                    "secret_file: hook.secret}\n")
    record = raise_alert(engine, 1)
    report = engine.deliver([record], patient=True)
    assert (report.sent, report.failed) == (1, 0)
    (request,) = receiver.requests
    body, headers = request["body"], request["headers"]
    expected = hmac.new(b"s3cret", headers["X-Adwatch-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Adwatch-Signature"] == f"sha256={expected}"
    sent = json.loads(body)
    assert (sent["id"], sent["phone"], sent["town"], sent["rule"]) == (record["id"], "+46701740601", "Gävle", "watched")
    assert "deliveries" not in sent and "Gävle" in sent["summary"]
    delivery = store.get_alert(record["id"])["deliveries"]["hook"]  # type: ignore[index]
    assert delivery["status"] == "sent" and delivery["attempts"] == 1 and store.undelivered_alerts() == []


def test_webhook_retries_with_backoff_until_the_receiver_answers(tmp_path: Path, receiver: Receiver) -> None:
    receiver.start()
    receiver.statuses = [503, 500]
    engine, store = setup(tmp_path, f"  hook: {{type: webhook, url: '{receiver.url}', {LOCAL}, retries: 3, "
                                    "backoff: 0.5}\n")
    slept: list[float] = []
    assert engine.dispatcher is not None
    engine.dispatcher.sleep = slept.append
    record = raise_alert(engine, 2)
    assert engine.deliver([record], patient=True).sent == 1
    assert slept == [0.5, 1.0]  # doubling between attempts
    assert store.get_alert(record["id"])["deliveries"]["hook"]["attempts"] == 3  # type: ignore[index]


def test_a_receiver_that_is_down_keeps_the_alert_until_it_is_back(tmp_path: Path, receiver: Receiver) -> None:
    engine, store = setup(tmp_path, f"  hook: {{type: webhook, url: '{receiver.url}', {LOCAL}, timeout: 2}}\n"
                                    "  file: {type: file, path: out/alerts.jsonl}\n")
    first, second = raise_alert(engine, 3), raise_alert(engine, 4)
    report = engine.deliver([first, second], patient=False)  # as in a crawl: one attempt, then move on
    assert (report.sent, report.failed, report.waiting) == (2, 1, 1)  # the file got both; the hook was tried once
    assert "Connection refused" in report.errors[0]
    stored = store.get_alert(first["id"])["deliveries"]  # type: ignore[index]
    assert stored["file"]["status"] == "sent"
    assert stored["hook"]["status"] == "failed"
    assert stored["hook"]["next_attempt_at"] > stored["hook"]["last_attempt_at"]
    assert {a["id"] for a in store.undelivered_alerts()} == {first["id"], second["id"]}
    assert len((tmp_path / "out" / "alerts.jsonl").read_text().splitlines()) == 2

    receiver.start()  # back up
    assert engine.dispatcher is not None
    assert engine.dispatcher.retry_waiting(due_only=True).sent == 0  # nothing due yet (backoff), and down this run
    fresh = Dispatcher(store, engine.dispatcher.notifiers, engine.config, sleep=lambda s: None)  # the next run
    assert fresh.retry_waiting(due_only=False).sent == 2
    assert store.undelivered_alerts() == [] and len(receiver.requests) == 2
    assert len((tmp_path / "out" / "alerts.jsonl").read_text().splitlines()) == 2  # the file is not sent twice


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_a_failed_delivery_not_a_silent_get(tmp_path: Path, receiver: Receiver, status: int) -> None:
    receiver.start()
    receiver.statuses = [status]
    engine, store = setup(tmp_path, f"  hook: {{type: webhook, url: '{receiver.url}', {LOCAL}, retries: 0, "
                                    "secret_file: hook.secret}\n")
    record = raise_alert(engine, 7)
    report = engine.deliver([record], patient=True)
    assert report.failed == 1 and "redirect" in report.errors[0] and len(receiver.requests) == 1
    assert store.get_alert(record["id"])["deliveries"]["hook"]["status"] == "failed"  # type: ignore[index]


def test_a_login_needs_tls_and_a_password_file(tmp_path: Path) -> None:
    from config.alerts_schema import load_alerts

    path = tmp_path / "alerts.yaml"
    path.write_text("channels:\n  plain: {type: email, host: h, sender: a@b.se, to: [c@d.se], username: u, "
                    "password_file: p}\n  nopass: {type: email, host: h, sender: a@b.se, to: [c@d.se], username: u, "
                    "starttls: true}\n  ok: {type: email, host: h, port: 465, ssl: true, sender: a@b.se, "
                    "to: [c@d.se], username: u, password_file: p}\n", encoding="utf-8")
    found, problems = load_alerts(path)
    assert list(found.channels) == ["ok"]
    assert sorted(p.reason.split(":")[0] for p in problems) == ["a login needs starttls or ssl",
                                                                "username needs password_file"]


def test_a_receiver_too_slow_to_answer_times_out(tmp_path: Path, receiver: Receiver) -> None:
    receiver.start()
    receiver.delay = 1.5
    engine, store = setup(tmp_path, f"  hook: {{type: webhook, url: '{receiver.url}', {LOCAL}, timeout: 0.3, "
                                    "retries: 0}\n")
    record = raise_alert(engine, 5)
    report = engine.deliver([record], patient=True)
    assert report.failed == 1 and "timed out" in report.errors[0]
    assert store.get_alert(record["id"])["deliveries"]["hook"]["status"] == "failed"  # type: ignore[index]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


def smtp_server(port: int, inbox: _Inbox) -> Any:
    from aiosmtpd.controller import Controller

    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def test_email_over_smtp_down_then_back(tmp_path: Path, smtp_port: int) -> None:
    engine, store = setup(tmp_path, f"  desk: {{type: email, host: 127.0.0.1, port: {smtp_port}, retries: 0, "
                                     "sender: adwatch@example.org, to: [desk@example.org]}\n")
    record = raise_alert(engine, 6)
    assert engine.deliver([record], patient=True).failed == 1  # no server yet
    assert store.get_alert(record["id"])["deliveries"]["desk"]["status"] == "failed"  # type: ignore[index]
    inbox = _Inbox()
    controller = smtp_server(smtp_port, inbox)
    try:
        assert engine.dispatcher is not None
        fresh = Dispatcher(store, engine.dispatcher.notifiers, engine.config)
        assert fresh.retry_waiting(due_only=False).sent == 1
    finally:
        controller.stop()
    (raw,) = inbox.messages
    message = message_from_bytes(raw)
    assert message["To"] == "desk@example.org" and message["X-Adwatch-Alert"] == record["id"]
    assert "+46701740606" in message["Subject"] and "Gävle" in message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert store.undelivered_alerts() == []


def test_starttls_is_required_when_asked_for(smtp_port: int) -> None:
    from alerts.notifiers import DeliveryFailed

    controller = smtp_server(smtp_port, _Inbox())
    try:
        notifier = EmailNotifier(EmailChannel(type="email", host="127.0.0.1", port=smtp_port, starttls=True,
                                              sender="a@example.org", to=["b@example.org"]), None)
        with pytest.raises(DeliveryFailed, match="STARTTLS"):  # never falls back to plain text
            notifier.send({"id": "x", "rule": "r", "kind": "new_number_in_town", "phone": "+46701740607",
                           "town": "Gävle", "details": {}})
    finally:
        controller.stop()


def test_cli_evaluate_list_ack_and_deliver(home: Path, receiver: Receiver, tmp_path: Path) -> None:
    """Ads indexed while alerts were off; 'evaluate' raises them (the webhook is down), 'deliver' sends them."""
    store = SqliteStore(home / "adwatch.db")
    store.write_ads([{"id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "first_seen_at": "2026-11-20T00:00:00Z",
                      "last_seen_at": "2026-11-20T00:00:00Z", "phones": [f"+4670174068{n}"], "town": town,
                      "towns": [{"name": town}], "content_hash": f"h{n}"}
                     for n, town in enumerate(["Gävle", "Luleå", "Gävle"])])
    store.close()
    config = tmp_path / "alerts.yaml"
    config.write_text("new_numbers: {baseline_first_crawl: false}\n"
                      "rules:\n  watched: {type: new_number_in_town, towns: [Gävle]}\n"
                      f"channels:\n  hook: {{type: webhook, url: '{receiver.url}', {LOCAL}, retries: 0}}\n",
                      encoding="utf-8")
    env = {"ADWATCH_ALERTS": str(config), "ADWATCH_NOW": "2026-11-25T00:00:00Z"}
    raised = run_json("alerts", "evaluate", "--since", "30d", home=home, env=env)
    assert (raised["new"], raised["failed"]) == (2, 1)  # the second was not tried: the hook is down this run
    assert run_json("alerts", "evaluate", "--since", "30d", home=home, env=env)["new"] == 0  # idempotent
    listed = run_adwatch("alerts", "list", "--json", home=home, env=env, check=True).stdout.splitlines()
    alerts = [json.loads(line) for line in listed]
    assert sorted(a["phone"] for a in alerts) == ["+46701740680", "+46701740682"]

    failed = run_adwatch("alerts", "deliver", "--now", home=home, env=env)
    assert failed.returncode == 1 and "Connection refused" in failed.stderr
    receiver.start()
    sent = run_adwatch("alerts", "deliver", "--now", home=home, env=env, check=True)
    assert "2 sent, 0 failed" in sent.stderr and len(receiver.requests) == 2

    run_adwatch("alerts", "ack", alerts[0]["id"], home=home, env=env, check=True)
    acked = [json.loads(line) for line in run_adwatch("alerts", "list", "--json", home=home, env=env,
                                                       check=True).stdout.splitlines()]
    assert [a["acked_at"] is not None for a in acked] == [a["id"] == alerts[0]["id"] for a in acked]
    missing = run_adwatch("alerts", "ack", "nosuchalert", home=home, env=env)
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no alert nosuchalert"


def test_cli_check_reports_each_problem_on_one_line(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "alerts.yaml"
    config.write_text("rules:\n  a: {type: new_number_in_town, towns: [Nowhereville]}\n"
                      "channels:\n  hook: {type: webhook, url: 'https://x', secret_file: missing.secret}\n",
                      encoding="utf-8")
    result = run_adwatch("alerts", "check", home=home, env={"ADWATCH_ALERTS": str(config)})
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert f"{config}: rules.a.towns: no such town in the gazetteer: Nowhereville" in errors[0]
    assert "channels.hook: cannot read secret" in errors[1]
    assert run_adwatch("alerts", "check", home=home, check=True).returncode == 0  # the shipped file
