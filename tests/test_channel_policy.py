"""Where webhook and file channels may point (alerts/channel_policy.py), checked when the
alerts file is read and again at send time, against real loopback receivers and real files."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.channel_policy import WebhookPolicy, url_refusal
from alerts.delivery import Dispatcher
from alerts.model import alert, with_channels
from alerts.notifiers import DeliveryFailed, DeliveryRefused, FileNotifier, WebhookNotifier, build_notifiers
from config.alerts_schema import AlertsConfig, WebhookChannel, load_alerts
from index.sqlite import SqliteStore
from tests.conftest import run_adwatch
from tests.test_alert_delivery import LOCAL, Receiver, free_port

PASSWORD = "hunter2-not-for-logs"
ALERT = {"id": "a1", "rule": "r", "kind": "new_number_in_town", "phone": "+46701740690", "town": "Gävle",
         "details": {}}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    found.start()
    yield found
    found.stop()


def channels(tmp_path: Path, text: str) -> tuple[AlertsConfig, list[Any], Path]:
    path = tmp_path / "alerts.yaml"
    path.write_text(f"channels:\n{text}", encoding="utf-8")
    config, problems = load_alerts(path)
    return config, problems, path


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# --- webhooks: refused when the config is read -------------------------------------------

REFUSED = [
    ("http://169.254.169.254/latest/meta-data/iam/", "metadata"),  # the example
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://169.254.1.2/hook", "link-local"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://[::ffff:169.254.169.254]/", "metadata"),  # the same address written as IPv6
    ("https://[::169.254.169.254]/", "metadata"),  # … IPv4-compatible
    ("https://[::ffff:0:a9fe:a9fe]/", "metadata"),  # … SIIT
    ("https://[64:ff9b:1::a9fe:a9fe]/", "metadata"),  # … local-use NAT64
    ("https://2852039166/latest", "metadata"),  # 169.254.169.254 as one decimal number
    ("https://0xA9FEA9FE/latest", "metadata"),  # … and in hex
    ("https://[fd00:ec2::254]/latest", "metadata"),  # AWS over IPv6, inside fc00::/7
    ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("https://METADATA.google.internal./computeMetadata/v1/", "metadata"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://10.0.0.5/hook", "allow_private"),
    ("https://192.168.1.10/hook", "allow_private"),
    ("https://[fd12:3456::1]/hook", "allow_private"),
    ("https://127.0.0.1/hook", "allow_loopback"),
    ("https://[::1]/hook", "allow_loopback"),
    ("https://localhost/hook", "allow_loopback"),
    ("http://alerts.example.org/hook", "allow_http"),
    (f"https://adwatch:{PASSWORD}@alerts.example.org/hook", "authorization_file"),
    (f"https://{PASSWORD}@alerts.example.org/hook", "authorization_file"),
    (f"https://alerts.example.org/hook?room=7&token={PASSWORD}", "authorization_file"),
    (f"https://alerts.example.org/hook?api_key={PASSWORD}", "authorization_file"),
    (f"ftp://adwatch:{PASSWORD}@alerts.example.org/", "http(s)"),
]


@pytest.mark.parametrize("url, why", REFUSED)
def test_a_webhook_where_alerts_must_not_go_is_refused_when_the_config_is_read(tmp_path: Path, url: str,
                                                                                 why: str) -> None:
    config, problems, path = channels(tmp_path, f"  hook: {{type: webhook, url: '{url}'}}\n  log: {{type: log}}\n")
    assert list(config.channels) == ["log"]  # left out; the rest works
    (problem,) = problems
    assert (problem.file, problem.field) == (str(path), "channels.hook.url")
    assert why in problem.reason and "refused" in problem.reason
    assert PASSWORD not in str(problem) and "\n" not in str(problem)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "https://[fe80::1]/",
                                 "https://metadata.google.internal/"])
def test_link_local_and_metadata_stay_refused_whatever_the_channel_allows(tmp_path: Path, url: str) -> None:
    _, problems, _ = channels(tmp_path, f"  hook: {{type: webhook, url: '{url}', allow_http: true, "
                                        "allow_private: true, allow_loopback: true}\n")
    assert [p.field for p in problems] == ["channels.hook.url"] and "never allowed" in problems[0].reason


def test_what_a_channel_allows_explicitly_is_accepted(tmp_path: Path) -> None:
    config, problems, _ = channels(tmp_path,
                                   "  public: {type: webhook, url: 'https://alerts.example.org/h?room=7'}\n"
                                   "  lan: {type: webhook, url: 'https://10.0.0.5/h', allow_private: true}\n"
                                   "  here: {type: webhook, url: 'http://localhost:8080/h', allow_http: true, "
                                   "allow_loopback: true}\n")
    assert problems == [] and sorted(config.channels) == ["here", "lan", "public"]
    # One allowance does not imply another.
    assert url_refusal("https://10.0.0.5/h", WebhookPolicy(allow_loopback=True)) is not None


def test_alerts_check_names_file_channel_and_reason_on_one_line_without_the_password(home: Path,
                                                                                     tmp_path: Path) -> None:
    config = tmp_path / "alerts.yaml"
    config.write_text("channels:\n"
                      "  meta: {type: webhook, url: 'http://169.254.169.254/latest/meta-data/'}\n"
                      f"  creds: {{type: webhook, url: 'https://adwatch:{PASSWORD}@alerts.example.org/h'}}\n"
                      "  escape: {type: file, path: ../../../x.jsonl}\n"
                      "  log: {type: log}\n", encoding="utf-8")
    result = run_adwatch("alerts", "check", home=home, env={"ADWATCH_ALERTS": str(config)})
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(": ")[1:3] for e in errors] == [[str(config), "channels.meta.url"],
                                                    [str(config), "channels.creds.url"],
                                                    [str(config), "channels.escape.path"]]
    assert "metadata" in errors[0] and "authorization_file" in errors[1] and "'..'" in errors[2]
    assert PASSWORD not in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert not (tmp_path.parent.parent / "x.jsonl").exists()


# --- webhooks: refused again at send time ----------------------------------------------------

def test_a_name_is_judged_by_what_it_resolves_to_when_sending(receiver: Receiver) -> None:
    url = f"http://localhost:{receiver.port}/hook"
    strict = WebhookNotifier(url, None, 5, policy=WebhookPolicy(allow_http=True), where="alerts.yaml: channels.hook")
    with pytest.raises(DeliveryRefused) as refused:
        strict.send(ALERT)
    message = str(refused.value)
    assert message.startswith("alerts.yaml: channels.hook: refused: localhost resolves to ")
    assert "loopback" in message and "allow_loopback" in message and "\n" not in message
    assert receiver.requests == []  # nothing was sent
    # The same name with loopback allowed reaches the receiver: the refusal above was the policy.
    WebhookNotifier(url, None, 5, policy=WebhookPolicy(allow_http=True, allow_loopback=True)).send(ALERT)
    assert len(receiver.requests) == 1


def test_https_goes_through_the_same_check_before_tls(receiver: Receiver) -> None:
    url = f"https://localhost:{receiver.port}/hook"
    with pytest.raises(DeliveryRefused, match="localhost resolves to .*loopback"):
        WebhookNotifier(url, None, 5).send(ALERT)
    # Allowed, it connects and then insists on TLS, which this plain-HTTP receiver cannot speak.
    with pytest.raises(DeliveryFailed) as failed:
        WebhookNotifier(url, None, 5, policy=WebhookPolicy(allow_loopback=True)).send(ALERT)
    assert not isinstance(failed.value, DeliveryRefused) and receiver.requests == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/hook", "https://127.0.0.1:{port}/hook",
                                 "http://2130706433:{port}/hook", "http://169.254.169.254/latest/meta-data/",
                                 "https://adwatch:" + PASSWORD + "@127.0.0.1:{port}/hook"])
def test_a_notifier_built_past_the_config_check_still_refuses(receiver: Receiver, url: str) -> None:
    notifier = WebhookNotifier(url.format(port=receiver.port), None, 5, policy=WebhookPolicy())
    with pytest.raises(DeliveryRefused) as refused:
        notifier.send(ALERT)
    assert receiver.requests == [] and PASSWORD not in str(refused.value)


def test_a_redirect_to_the_metadata_service_is_not_followed_nor_echoed(receiver: Receiver) -> None:
    receiver.statuses = [302]
    receiver.location = f"http://x:{PASSWORD}@169.254.169.254/latest/meta-data/?token={PASSWORD}"
    notifier = WebhookNotifier(f"{receiver.url}", None, 5, policy=WebhookPolicy(allow_http=True, allow_loopback=True))
    with pytest.raises(DeliveryFailed) as failed:
        notifier.send(ALERT)
    assert "HTTP 302 redirect to http://169.254.169.254/… (not followed" in str(failed.value)
    assert PASSWORD not in str(failed.value) and len(receiver.requests) == 1  # the POST only, no GET anywhere


def test_errors_show_the_host_never_the_path_or_query() -> None:
    port = free_port()  # nothing listens there
    notifier = WebhookNotifier(f"http://127.0.0.1:{port}/services/T0/B0/{PASSWORD}?room=7", None, 2,
                               policy=WebhookPolicy(allow_http=True, allow_loopback=True))
    with pytest.raises(DeliveryFailed) as failed:
        notifier.send(ALERT)
    assert str(failed.value) == f"http://127.0.0.1:{port}/…: Connection refused"


def test_a_refused_delivery_is_recorded_with_its_reason_and_not_retried_now(tmp_path: Path,
                                                                          receiver: Receiver) -> None:
    channel = WebhookChannel(type="webhook", url=receiver.url, allow_http=True, allow_loopback=True, retries=3,
                             backoff=1)
    config = AlertsConfig(channels={"hook": channel})
    # Built without allow_loopback, as if the config had been changed behind it.
    notifier = WebhookNotifier(f"http://localhost:{receiver.port}/hook", None, 5, policy=WebhookPolicy(allow_http=True),
                               where="alerts.yaml: channels.hook")
    store = SqliteStore(tmp_path / "d.db")
    slept: list[float] = []
    record = with_channels(alert("r", "new_number_in_town", "+46701740691", {"id": "s:1", "url": "http://x/1"},
                                 town="Gävle", road=None, km=None, details={}), ["hook"])
    (stored,) = store.add_alerts([record])
    report = Dispatcher(store, {"hook": notifier}, config, sleep=slept.append).deliver([stored], patient=True)
    assert (report.sent, report.failed, slept) == (0, 1, [])  # no backoff: retrying cannot help
    entry = store.get_alert(stored["id"])["deliveries"]["hook"]  # type: ignore[index]
    assert entry["status"] == "failed" and entry["attempts"] == 1 and "allow_loopback" in entry["last_error"]
    assert receiver.requests == []
    store.close()


# --- secrets go in files only their owner can read ------------------------------------------

def test_authorization_file_is_sent_as_the_header(tmp_path: Path, receiver: Receiver) -> None:
    private_file(tmp_path / "hook.auth", f"Bearer {PASSWORD}\n")
    config, problems, path = channels(tmp_path, f"  hook: {{type: webhook, url: '{receiver.url}', {LOCAL}, "
                                                "authorization_file: hook.auth}\n")
    notifiers, more = build_notifiers(config, home=tmp_path, config_file=path)
    assert problems == more == []
    notifiers["hook"].send(ALERT)
    assert receiver.requests[0]["headers"]["Authorization"] == f"Bearer {PASSWORD}"


@pytest.mark.parametrize("option", ["authorization_file", "secret_file"])
def test_a_secret_file_readable_by_others_is_refused(tmp_path: Path, option: str) -> None:
    private_file(tmp_path / "hook.secret", PASSWORD, mode=0o644)
    config, problems, path = channels(tmp_path, "  hook: {type: webhook, url: 'https://alerts.example.org/h', "
                                                f"{option}: hook.secret}}\n")
    notifiers, more = build_notifiers(config, home=tmp_path, config_file=path)
    assert problems == [] and notifiers == {}
    (problem,) = more
    assert problem.field == "channels.hook" and "chmod 600" in problem.reason and PASSWORD not in str(problem)


# --- file channels ----------------------------------------------------------------------------

def file_channel(tmp_path: Path, home: Path, where: str) -> tuple[dict[str, Any], list[Any], list[Any]]:
    config, problems, path = channels(tmp_path, f"  out: {{type: file, path: '{where}'}}\n")
    notifiers, more = build_notifiers(config, home=home, config_file=path)
    return notifiers, problems, more


def test_a_path_that_climbs_out_of_the_home_is_refused(tmp_path: Path, home: Path) -> None:
    notifiers, problems, _ = file_channel(tmp_path, home, "../../../x.jsonl")
    assert notifiers == {} and [p.field for p in problems] == ["channels.out.path"]
    assert "ADWATCH_HOME" in problems[0].reason


def test_an_absolute_path_outside_the_home_is_refused_inside_it_accepted(tmp_path: Path, home: Path) -> None:
    notifiers, problems, more = file_channel(tmp_path, home, str(tmp_path / "elsewhere" / "x.jsonl"))
    assert notifiers == {} and problems == [] and [p.field for p in more] == ["channels.out.path"]
    assert "outside ADWATCH_HOME" in more[0].reason
    notifiers, problems, more = file_channel(tmp_path, home, str(home / "alerts.jsonl"))
    assert problems == more == [] and "out" in notifiers


def test_a_symlink_out_of_the_home_is_refused(tmp_path: Path, home: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "link").symlink_to(outside)
    notifiers, _, more = file_channel(tmp_path, home, "link/alerts.jsonl")
    assert notifiers == {} and "outside ADWATCH_HOME" in more[0].reason
    (home / "inside").mkdir()
    (home / "fine").symlink_to(home / "inside")  # a link that stays inside is fine
    notifiers, _, more = file_channel(tmp_path, home, "fine/alerts.jsonl")
    assert more == []
    notifiers["out"].send(ALERT)
    assert (home / "inside" / "alerts.jsonl").read_text().count("\n") == 1


@pytest.mark.parametrize("swap", ["folder", "file"])
def test_a_symlink_made_after_the_check_is_refused_at_send_time(tmp_path: Path, home: Path, swap: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    notifier = FileNotifier("out/alerts.jsonl", home, where="alerts.yaml: channels.out")
    notifier.send(ALERT)  # accepted and written
    if swap == "folder":
        (home / "out" / "alerts.jsonl").unlink()
        (home / "out").rmdir()
        (home / "out").symlink_to(outside)
    else:
        (home / "out" / "alerts.jsonl").unlink()
        (home / "out" / "alerts.jsonl").symlink_to(outside / "alerts.jsonl")
    with pytest.raises(DeliveryRefused, match="^alerts.yaml: channels.out: refused: "):
        notifier.send(ALERT)
    assert list(outside.iterdir()) == []


def test_files_are_0600_in_0700_folders_whatever_the_umask(home: Path, loose_umask: None) -> None:
    notifier = FileNotifier("deep/er/alerts.jsonl", home)
    notifier.send(ALERT)
    notifier.send(ALERT)
    assert stat.S_IMODE((home / "deep" / "er" / "alerts.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "deep" / "er").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "deep").stat().st_mode) == 0o700
    assert (home / "deep" / "er" / "alerts.jsonl").read_text().count("\n") == 2
    old = home / "old.jsonl"  # left open to all by an older version: tightened on the next write
    old.write_text("")
    old.chmod(0o644)
    FileNotifier("old.jsonl", home).send(ALERT)
    assert stat.S_IMODE(old.stat().st_mode) == 0o600


def test_a_missing_home_is_created_private(tmp_path: Path, loose_umask: None) -> None:
    home = tmp_path / "new-home"
    FileNotifier("alerts.jsonl", home).send(ALERT)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "alerts.jsonl").stat().st_mode) == 0o600


def test_an_unreadable_url_is_refused_without_repeating_it() -> None:
    # urllib's own message quotes what follows a colon: here, the password.
    reason = url_refusal(f"https://user:{PASSWORD}/x@hooks.example.com/p", WebhookPolicy())
    assert reason == "not a URL (unreadable host or port)"
    # http.client's message would quote the path, where chat webhooks keep their token.
    spaced = url_refusal(f"https://hooks.example.com/services/T0/{PASSWORD} x", WebhookPolicy())
    assert spaced is not None and "spaces or control characters" in spaced and PASSWORD not in spaced


def test_an_ipv6_webhook_without_a_port_is_delivered() -> None:
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    class Server6(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    try:
        server = Server6(("::1", 80), Handler)
    except OSError as exc:  # port 80 taken, or no IPv6 loopback here
        pytest.skip(f"cannot listen on [::1]:80 ({exc})")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        WebhookNotifier("http://[::1]/hook", None, 5, policy=WebhookPolicy(allow_http=True, allow_loopback=True)
                        ).send(ALERT)
    finally:
        server.shutdown()
        server.server_close()
    assert len(got) == 1 and b'"id"' in got[0]
