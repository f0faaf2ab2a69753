"""`adwatch trends` as an analyst runs it: table, CSV, JSON, a chart, and bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from index.sqlite import SqliteStore
from tests.conftest import run_adwatch
from tests.test_store_conformance import ad, town


@pytest.fixture
def indexed(home: Path) -> Path:
    store = SqliteStore(home / "adwatch.db")
    rows = [("Gävle", 2), ("Gävle", 3), ("Gävle", 10), ("Sandviken", 11), ("Sandviken", 16), ("Sandviken", 17)]
    store.write_ads([ad(n, posted_at=f"2026-11-{day:02d}T12:00:00Z", town=name, county="Gävleborgs län",
                        towns=[town(name)]) for n, (name, day) in enumerate(rows)])
    store.close()
    return home


def test_json_csv_and_table(indexed: Path) -> None:
    args = ["trends", "--since", "2026-11-02", "--until", "2026-11-23", "--interval", "week"]
    data = json.loads(run_adwatch(*args, "--format", "json", home=indexed, check=True).stdout)
    assert data["periods"] == ["2026-11-02", "2026-11-09", "2026-11-16"]
    assert {s["key"]: s["values"] for s in data["series"]} == {"Gävle": [2, 1, 0], "Sandviken": [0, 1, 2]}
    assert data["risers"] == ["Sandviken"]
    rows = list(csv.reader(io.StringIO(run_adwatch(*args, "--format", "csv", home=indexed, check=True).stdout)))
    assert rows[0] == ["town", "2026-11-02", "2026-11-09", "2026-11-16", "total", "change", "change_pct"]
    assert ["Sandviken", "0", "1", "2", "3", "1", "100.0"] in rows
    shown = run_adwatch(*args, "--by", "county", home=indexed, check=True).stdout
    assert "Gävleborgs län" in shown and "rising" not in shown  # the county has 2, 2, 2 ads: nothing rises


def test_plot_writes_a_chart(indexed: Path, tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "ads.png"
    result = run_adwatch("trends", "--since", "2026-11-02", "--plot", str(chart), home=indexed, check=True)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
    assert str(chart) in result.stderr
    svg = tmp_path / "ads.svg"
    run_adwatch("trends", "--since", "2026-11-02", "--metric", "new_phones", "--plot", str(svg), home=indexed,
                check=True)
    assert "<svg" in svg.read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--metric", "clicks"], "--metric: 'clicks' is not one of"),
    (["--by", "region"], "--by: 'region'"),
    (["--interval", "hour"], "--interval: 'hour'"),
    (["--format", "xml"], "--format: 'xml'"),
    (["--plot", "chart.pdf"], "must end in .png or .svg"),
    (["--since", "yesterday-ish"], "yesterday-ish"),
])
def test_bad_options_are_one_line_errors(indexed: Path, args: list[str], message: str) -> None:
    result = run_adwatch("trends", *args, home=indexed)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
