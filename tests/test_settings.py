"""Settings: declared once (config/settings.py), the environment read in one place
(config/environment.py) and applied to the CLI and to plain `scrapy crawl` alike."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.crawler import CrawlerRunner
from scrapy.settings import Settings

import config.settings
from adwatch.demo.server import DemoSite
from adwatch.settings import load_settings, override_for_this_run
from config.environment import ENVIRONMENT, SettingError, overrides
from index.open import StoreConfig, StoreConfigError, open_store, spool_dir, store_config
from index.sqlite import SqliteStore
from tests.conftest import ROOT, run_adwatch

DECLARED = {name: getattr(config.settings, name) for name in dir(config.settings) if name.isupper()}


def _clean_env(**extra: str) -> dict[str, str]:
    import os

    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ADWATCH_") or k.startswith("ADWATCH_TEST")}
    return {**inherited, "PYTHONWARNINGS": "error", **extra}


@pytest.fixture(autouse=True)
def _no_adwatch_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("ADWATCH_") and not n.startswith("ADWATCH_TEST")]:
        monkeypatch.delenv(name)


def test_the_settings_module_reads_no_environment() -> None:
    script = ("import json, config.settings as s; "
              "print(json.dumps({n: getattr(s, n) for n in dir(s) if n.startswith('ADWATCH_')}))")
    odd = {name: "/odd" for name in ENVIRONMENT} | {"ADWATCH_ES_SHARDS": "7", "ADWATCH_DEFAULT_REGION": "NO"}
    plain = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_clean_env(), capture_output=True,
                           text=True, check=True)
    under = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_clean_env(**odd), capture_output=True,
                           text=True, check=True)
    assert json.loads(under.stdout) == json.loads(plain.stdout)
    assert json.loads(under.stdout)["ADWATCH_HOME"] == "data"


def test_nothing_but_config_environment_reads_the_environment() -> None:
    # schedule_cmd and the stage worker's client hand this process's environment on to the
    # process they start (a crawl, the worker); they read nothing from it.
    allowed = {Path("config/environment.py"), Path("adwatch/schedule_cmd.py"), Path("pipelines/worker_client.py")}
    readers = set()
    for path in ROOT.glob("[a-z]*/**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in ("tests", "bench") or relative.parts[0].startswith("."):
            continue
        if re.search(r"os\.environ|getenv\(", path.read_text(encoding="utf-8")):
            readers.add(relative)
    assert readers <= allowed, readers - allowed


def test_every_variable_overrides_a_declared_setting() -> None:
    assert set(ENVIRONMENT) <= set(DECLARED)


def test_the_environment_reaches_the_cli_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings()["ADWATCH_HOME"] == DECLARED["ADWATCH_HOME"]
    monkeypatch.setenv("ADWATCH_HOME", "/srv/case-42")
    monkeypatch.setenv("ADWATCH_ES_SHARDS", "3")
    monkeypatch.setenv("ADWATCH_ES_TIMEOUT", "2.5")
    monkeypatch.setenv("ADWATCH_DEFAULT_REGION", "no")
    monkeypatch.setenv("ADWATCH_STORE", "")  # empty: not set, the declared default applies
    monkeypatch.setenv("ADWATCH_ALERTS", "")  # except here, where empty turns alerts off
    settings = load_settings()
    assert settings["ADWATCH_HOME"] == "/srv/case-42"
    assert settings["ADWATCH_ES_SHARDS"] == 3 and settings["ADWATCH_ES_TIMEOUT"] == 2.5
    assert settings["ADWATCH_DEFAULT_REGION"] == "NO"
    assert settings["ADWATCH_STORE"] == DECLARED["ADWATCH_STORE"]
    assert settings["ADWATCH_ALERTS"] == ""
    # The command line wins over the environment (`--set`, `--store`).
    assert load_settings({"ADWATCH_HOME": "/cmdline"})["ADWATCH_HOME"] == "/cmdline"
    monkeypatch.setattr("adwatch.settings._invocation", {})
    override_for_this_run("ADWATCH_STORE", "es")
    assert load_settings()["ADWATCH_STORE"] == "es"


def test_the_environment_reaches_a_scrapy_crawler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What `scrapy crawl` builds: the project settings module, then a crawler process."""
    sources = tmp_path / "sources"
    sources.mkdir()
    shutil.copy(ROOT / "config" / "sources" / "nightlist.yaml", sources)
    monkeypatch.setenv("ADWATCH_STORE", "sqlite:///elsewhere.db")
    monkeypatch.setenv("ADWATCH_SOURCES_DIR", str(sources))
    settings = Settings()
    settings.setmodule("config.settings", priority="project")
    settings.set("ADWATCH_HOME", "/from-the-command-line", priority="cmdline")  # scrapy crawl -s …
    runner = CrawlerRunner(settings)
    assert runner.spider_loader.list() == ["nightlist"]
    crawler = runner.create_crawler("nightlist")
    assert crawler.settings["ADWATCH_STORE"] == "sqlite:///elsewhere.db"
    assert crawler.settings["ADWATCH_HOME"] == "/from-the-command-line"


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("ADWATCH_ES_SHARDS", "many", "expected a whole number"),
    ("ADWATCH_ES_REPLICAS", "-1", "expected 0 or more"),
    ("ADWATCH_ES_TIMEOUT", "0", "expected more than 0 seconds"),
    ("ADWATCH_ES_URL", "127.0.0.1:9200", "http:// or https://"),
    ("ADWATCH_DEFAULT_REGION", "Sweden", "phone region"),
    ("ADWATCH_NOW", "last tuesday", "not a time span"),
])
def test_a_bad_value_is_one_line_naming_variable_value_and_reason(name: str, value: str, reason: str) -> None:
    with pytest.raises(SettingError) as caught:
        overrides({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r}: ") and reason in message and "\n" not in message


def test_a_bad_value_stops_the_cli_and_scrapy_with_one_line(home: Path) -> None:
    result = run_adwatch("stats", home=home, env={"ADWATCH_ES_SHARDS": "many"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: ADWATCH_ES_SHARDS='many': expected a whole number"]
    scrapy = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "nightlist"], cwd=ROOT, capture_output=True,
                            text=True, env=_clean_env(ADWATCH_HOME=str(home), ADWATCH_ES_SHARDS="many"), timeout=120)
    assert scrapy.returncode == 2
    assert scrapy.stderr.strip().splitlines() == ["ADWATCH_ES_SHARDS='many': expected a whole number"]
    assert not list(home.iterdir())  # stopped before anything was opened


def test_scrapy_crawl_takes_its_store_and_sources_from_the_environment(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    shutil.copy(ROOT / "config" / "sources" / "nightlist.yaml", sources)
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere.db"
    env = _clean_env(ADWATCH_HOME=str(home), ADWATCH_STORE=f"sqlite:///{elsewhere}", ADWATCH_SOURCES_DIR=str(sources))
    listed = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120, check=True)
    assert listed.stdout.split() == ["nightlist"]
    with DemoSite(seed=7, count=30) as site:
        command = [sys.executable, "-m", "scrapy", "crawl", "nightlist", "-a", f"base_url={site.base_url}",
                   "-L", "WARNING"]
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    store = SqliteStore(elsewhere, readonly=True)
    assert store.db.execute("SELECT count(*) FROM ads WHERE source = 'nightlist'").fetchone()[0] > 0
    store.close()
    assert not (home / "adwatch.db").exists()


def test_the_default_region_reaches_the_cli(home: Path) -> None:
    swedish = run_adwatch("phones", "070-174 06 05", home=home)
    assert "not a valid phone number" not in swedish.stderr  # a Swedish mobile; the index is just empty
    norwegian = run_adwatch("phones", "070-174 06 05", home=home, env={"ADWATCH_DEFAULT_REGION": "NO"})
    assert norwegian.returncode == 2 and "not a valid phone number" in norwegian.stderr


def test_store_config_is_read_once_and_typed(tmp_path: Path) -> None:
    settings = load_settings({"ADWATCH_HOME": str(tmp_path), "ADWATCH_ES_SHARDS": "2", "ADWATCH_ES_TIMEOUT": "3"})
    config = store_config(settings)
    assert isinstance(config, StoreConfig)
    assert (config.home, config.es_shards, config.es_timeout) == (tmp_path, 2, 3.0)
    assert config.elasticsearch is None and config.sqlite_file == tmp_path / "adwatch.db"
    assert spool_dir(config) == tmp_path / "adwatch.spool"
    store = open_store(config)
    assert isinstance(store, SqliteStore)
    store.close()
    es = store_config({"ADWATCH_HOME": str(tmp_path), "ADWATCH_STORE": "es", "ADWATCH_ES_PREFIX": "case"})
    assert es.elasticsearch == DECLARED["ADWATCH_ES_URL"]  # a plain dict's gaps get the declared defaults
    assert spool_dir(es) == tmp_path / "elasticsearch-127.0.0.1_9200-case.spool"
    with pytest.raises(StoreConfigError, match="ADWATCH_ES_REPLICAS: not a number: 'x'"):
        store_config(load_settings({"ADWATCH_ES_REPLICAS": "x"}))
