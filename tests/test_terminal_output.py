"""Issue 12, item 7: stored, page-derived text is shown, never obeyed by the terminal or rich.

A hostile site writes escape sequences (a window title, clear screen), C1 controls, DEL,
bidi overrides and rich markup into its ads. Every command that prints stored text runs
here as a real subprocess over a real store holding such an ad, and no raw control byte
may reach stdout or stderr; ``--json`` stays exact JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from adwatch.output import fail, json_text, out, visible
from index.sqlite import SqliteStore
from tests.conftest import ADWATCH, ROOT

HOSTILE = "Ring\x1b]0;PWNED\x07\x1b[2J [bold]B[/bold] \x9b31m \u202eevil\x7f\rX\u2066"
# What a terminal could act on, as the bytes that would carry it (UTF-8 for C1 and bidi).
FORBIDDEN = [b"\x1b", b"\x07", b"\r", b"\x7f", "\x9b".encode(), "\u202e".encode(), "\u2066".encode()]
TOWN = "Gävle\x1b[2J"


@pytest.fixture
def hostile_home(home: Path, tmp_path: Path) -> Path:
    store = SqliteStore(home / "adwatch.db")
    seen = {"first_seen_at": "2026-11-01T00:00:00Z", "last_seen_at": "2026-11-02T00:00:00Z"}
    store.write_ads([{
        **seen, "id": "demo:1", "source": "demo", "url": "http://x/1\x1b[2J", "title": HOSTILE,
        "text": "ring\n" + HOSTILE, "poster": HOSTILE, "posted_at": "2026-11-01T10:00:00Z",
        "phones": ["+46701740605"], "town": TOWN,
        "towns": [{"name": TOWN, "county": "Gävleborgs län", "lat": 60.6, "lon": 17.1, "found_in": "text"}],
        "phone_details": [{"e164": "+46701740605", "raw": "070\x1b[2J", "line_type": "mobile"}],
        "contacts": [{"type": "telegram", "value": "x\x1b[2J[bold]y"}],
        "indicators": [{"category": "hotel", "phrase": "ho\x1btel", "start": 0, "end": 3, "rule": "r\x07",
                        "weight": 1.0}],
    }])
    run = store.start_run("demo", "2026-11-01T00:00:00Z")
    store.finish_run(run, status="failed", finished_at="2026-11-01T00:01:00Z", reason=HOSTILE)
    store.add_alerts([{"id": "a1", "key": "k1", "rule": "new\x1b[2J", "kind": "new_number_near_highway",
                       "phone": "+46701740605", "ad": "demo:1", "town": TOWN, "road": "E4\x1b[2J", "km": 1.0,
                       "created_at": "2026-11-01T00:00:00Z", "details": {}, "deliveries": {}}])
    store.close()
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "evil.yaml").write_text(
        "name: evil\nkind: html\ndescription: \"" + HOSTILE.encode("unicode_escape").decode().replace('"', '\\"')
        + "\"\nstart_urls: ['http://127.0.0.1:9/']\nregion: SE\nlisting:\n  ad_links: 'a::attr(href)'\n"
        "fields:\n  title: h1\n  text: p\n", encoding="utf-8")
    return home


def _run(*args: str, home: Path, sources: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """The CLI as bytes: text mode would turn a raw CR into a newline and hide it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_") or k.startswith("ADWATCH_TEST")}
    env |= {"ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"}
    if sources is not None:
        env["ADWATCH_SOURCES_DIR"] = str(sources)
    return subprocess.run([*ADWATCH, *args], capture_output=True, env=env, cwd=ROOT, timeout=240)


def _assert_shown_not_obeyed(result: subprocess.CompletedProcess[bytes]) -> str:
    assert b"Traceback" not in result.stderr, result.stderr.decode()[-2000:]
    for stream in (result.stdout, result.stderr):
        for raw in FORBIDDEN:
            assert raw not in stream, (raw, stream[:3000])
    return result.stdout.decode()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("search", "ring"), ["Ring\\x1b]0;PWNED\\x07\\x1b[2J", "[bold]B[/bold]", "\\x9b31m", "\\u202eevil\\x7f"]),
        (("search",), ["Ring\\x1b]0;PWNED", "Gävle\\x1b[2J"]),
        (("show", "demo:1"), ["Ring\\x1b]0;PWNED\\x07\\x1b[2J [bold]B[/bold]", "http://x/1\\x1b[2J",
                              "x\\x1b[2J[bold]y", "ho\\x1btel", "\\x0dX\\u2066"]),
        (("phones", "0701740605"), ["Gävle\\x1b[2J", "Ring\\x1b]0;PWNED"]),
        (("runs",), ["\\x1b]0;PWNED", "[bold]B[/bold]"]),
        (("alerts", "list"), ["new\\x1b[2J", "E4\\x1b[2J"]),
        (("trends", "--since", "2026-10-01", "--until", "2026-11-10"), ["Gävle\\x1b[2J"]),
        (("trends", "--since", "2026-10-01", "--until", "2026-11-10", "--format", "csv"), ["Gävle\\x1b[2J"]),
        (("stats",), ["Gävle\\x1b[2J"]),
    ],
)
def test_every_command_shows_stored_text_without_obeying_it(hostile_home: Path, args: tuple[str, ...],
                                                            expected: list[str]) -> None:
    result = _run(*args, home=hostile_home)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    shown = _assert_shown_not_obeyed(result)
    for text in expected:
        assert text in shown, (text, shown[:3000])


def test_sources_list_shows_a_hostile_description(hostile_home: Path, tmp_path: Path) -> None:
    result = _run("sources", "list", home=hostile_home, sources=tmp_path / "sources")
    shown = _assert_shown_not_obeyed(result)
    assert "evil" in shown and "[bold]B[/bold]" in shown and "\\x1b]0;PWNED" in shown


@pytest.mark.parametrize(
    "args",
    [("search", "ring", "--json"), ("show", "demo:1", "--json"), ("phones", "0701740605", "--json"),
     ("runs", "--json"), ("alerts", "list", "--json"),
     ("trends", "--since", "2026-10-01", "--until", "2026-11-10", "--format", "json")],
)
def test_json_stays_exact_json_with_every_control_escaped(hostile_home: Path, args: tuple[str, ...]) -> None:
    result = _run(*args, home=hostile_home)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    _assert_shown_not_obeyed(result)
    for line in result.stdout.decode().splitlines():
        json.loads(line)
    if args[0] in ("search", "show"):
        data = json.loads(result.stdout)
        ad = data["hits"][0] if args[0] == "search" else data
        assert ad["title"] == HOSTILE and ad["poster"] == HOSTILE  # exact, not cleaned


def test_a_hostile_value_in_an_error_line_is_shown(hostile_home: Path) -> None:
    result = _run("search", "--town", "x\x1b[2J\u202e", home=hostile_home)
    assert result.returncode == 2
    _assert_shown_not_obeyed(result)
    assert len(result.stderr.decode().strip().splitlines()) == 1


def test_visible_names_each_control_and_keeps_ordinary_text() -> None:
    assert visible("a\x1b[2Jb\x07\x9b\u202e\u2069\x7f\x00") == "a\\x1b[2Jb\\x07\\x9b\\u202e\\u2069\\x7f\\x00"
    assert visible("line\n\ttab") == "line\n\ttab"
    assert visible("line\n\ttab", layout=False) == "line\\x0a\\x09tab"
    assert visible("Gävle Ринг 🙂 \u200d") == "Gävle Ринг 🙂 \u200d"


def test_json_text_escapes_what_json_dumps_leaves_raw() -> None:
    value = {"t": HOSTILE}
    text = json_text(value)
    assert json.loads(text) == value
    assert not any(ch in text for ch in "\x1b\x07\r\x7f\x9b\u202e\u2066")


def test_the_consoles_make_a_stray_control_visible(capsys: pytest.CaptureFixture[str]) -> None:
    """The render hook: text printed without going through cell()/markup() is still shown."""
    out.print("plain \x1b[2J text", markup=False)
    fail("bad \x1b]0;x\x07 value\u202e")
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out and "\\x1b[2J" in captured.out
    assert captured.err == "error: bad \\x1b]0;x\\x07 value\\u202e\n"
