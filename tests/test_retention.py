"""Retention settings → cut-offs, and ``adwatch purge`` end to end (dry run, report, audit, verify)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adwatch.retention.policy import RetentionPolicy, alert_lookback
from adwatch.settings import load_settings
from index.sqlite import SqliteStore
from tests.conftest import run_adwatch

NOW = "2027-12-01T03:30:00Z"


def test_the_shipped_defaults_and_the_look_back(tmp_path: Path) -> None:
    policy = RetentionPolicy.from_settings(load_settings())
    assert (policy.ads, policy.registry, policy.evidence, policy.alerts) == (timedelta(days=365),) * 4
    assert policy.runs == timedelta(days=730) and policy.audit == timedelta(days=5 * 365)
    assert policy.audit > max(policy.ads, policy.registry, policy.evidence, policy.alerts, policy.runs)
    cut = RetentionPolicy(**{**policy.__dict__, "registry": timedelta(days=30),
                             "lookback": timedelta(days=90)}).cutoffs(datetime(2027, 12, 1, tzinfo=UTC))
    assert cut.registry == "2027-09-02T00:00:00Z"  # never sooner than the alerts' look-back
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text("new_numbers:\n  lookback_days: 45\n", encoding="utf-8")
    assert alert_lookback(str(alerts)) == timedelta(days=45) and alert_lookback("") is None


def ad(n: int, seen: str) -> dict[str, Any]:
    return {"id": f"s:{n}", "source": "s", "url": f"http://x/{n}", "title": f"Annons {n}", "text": "massage",
            "first_seen_at": seen, "last_seen_at": seen, "phones": [f"+4670174{n:04d}"], "towns": [],
            "content_hash": f"h{n}", "version": 1}


def test_purge_from_the_command_line(home: Path) -> None:
    store = SqliteStore(home / "adwatch.db")
    store.write_ads([ad(620, "2026-10-01T00:00:00Z"), ad(621, "2026-10-01T00:00:00Z"),
                     ad(622, "2027-11-01T00:00:00Z")])
    for at in ("2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z", "2027-01-01T00:00:00Z"):
        store.audit_append("anna", "search", {"q": "x"}, 1, at)
    store.close()
    env = {"ADWATCH_NOW": NOW}
    dry = json.loads(run_adwatch("purge", "--dry-run", "--json", home=home, env=env, check=True).stdout)
    assert dry["dry_run"] and dry["counts"]["ads"] == 2 and dry["ids"]["ads"] == ["s:620", "s:621"]
    assert dry["counts"]["audit"] == 2 and dry["report"] is None and not (home / "purge").exists()
    assert json.loads(run_adwatch("search", "--json", home=home, env=env, check=True).stdout)["total"] == 3

    held = run_adwatch("hold", "add", "case-1", "--ad", "s:621", home=home, env=env, check=True)
    assert held.returncode == 0
    done = json.loads(run_adwatch("purge", "--json", home=home, env=env, check=True).stdout)
    assert done["counts"]["ads"] == 1 and done["ids"]["ads"] == ["s:620"] and done["counts"]["audit"] == 2
    report = home / done["report"]
    assert oct(os.stat(report).st_mode & 0o777) == "0o600"
    assert hashlib.sha256(report.read_bytes()).hexdigest() == done["report_sha256"]
    assert json.loads(report.read_text(encoding="utf-8"))["removed"]["ads"] == ["s:620"]  # ids, no contents
    assert "massage" not in report.read_text(encoding="utf-8")
    found = json.loads(run_adwatch("search", "--json", home=home, env=env, check=True).stdout)
    assert found["total"] == 2 and sorted(h["id"] for h in found["hits"]) == ["s:621", "s:622"]

    verify = run_adwatch("audit", "verify", "--json", home=home, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    checked = json.loads(verify.stdout)
    assert checked["ok"] and checked["start"] and checked["start"].startswith("2:")
    entries = json.loads(run_adwatch("audit", "--action", "purge", "--json", home=home, env=env, check=True).stdout)
    assert entries[0]["params"]["report_sha256"] == done["report_sha256"]
    assert entries[0]["params"]["audit"]["anchor"] == checked["start"]


def test_an_unavailable_store_is_one_line_and_no_half_purge(home: Path) -> None:
    result = run_adwatch("purge", home=home, env={"ADWATCH_STORE": "elasticsearch+http://127.0.0.1:9",
                                                  "ADWATCH_NOW": NOW})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "unavailable" in result.stderr
    assert not (home / "purge").exists()


def test_a_bad_retention_setting_is_refused(home: Path) -> None:
    result = run_adwatch("purge", home=home, env={"ADWATCH_RETAIN_ADS": "forever"})
    assert result.returncode != 0 and "ADWATCH_RETAIN_ADS" in result.stderr and "Traceback" not in result.stderr
