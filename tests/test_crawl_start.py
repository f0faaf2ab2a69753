"""A crawl that cannot start: checked up front where it can be, a ``failed`` run with its real
reason where it cannot, one line on stderr and a non-zero exit, never a traceback (issue 12, item 9)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_adwatch

GOOD = """
name: {name}
start_urls: ["http://127.0.0.1:9/list/"]
listing:
  ad_links: "a.ad::attr(href)"
fields:
  title: "h1"
  text: "div.body"
"""


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _runs(home: Path) -> list[dict[str, object]]:
    result = run_adwatch("runs", "--json", home=home, check=True)
    runs: list[dict[str, object]] = json.loads(result.stdout)
    return runs


@pytest.mark.parametrize("base_url", ["garbage", "file:///etc", "http://", "http://127.0.0.1:99999",
                                      "javascript:alert(1)"])
def test_a_bad_base_url_is_a_failed_run_with_its_reason(home: Path, base_url: str) -> None:
    result = run_adwatch("crawl", "annonsguiden", "--base-url", base_url, "--json", home=home)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Crawler.stats" not in result.stderr
    (line,) = _errors(result.stderr)
    assert "annonsguiden" in line and "--base-url" in line
    (row,) = json.loads(result.stdout)
    assert row["status"] == "failed" and "--base-url" in str(row["reason"])
    (recorded,) = _runs(home)  # recorded, so the health line says so too
    assert recorded["id"] == row["id"] and recorded["status"] == "failed"
    health = run_adwatch("runs", home=home, check=True).stdout
    assert "annonsguiden: ATTENTION" in " ".join(health.split())


def test_a_crawler_that_fails_while_starting_records_the_real_reason(home: Path) -> None:
    # Past every check adwatch makes, Scrapy itself refuses a setting while the crawler starts.
    result = run_adwatch("crawl", "nightlist", "--base-url", "http://127.0.0.1:9", "-s", "DOWNLOAD_DELAY=abc",
                         "--json", home=home)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Unhandled error" not in result.stderr
    (line,) = _errors(result.stderr)
    assert "nightlist" in line and "could not convert string to float" in line
    (row,) = _runs(home)
    assert row["status"] == "failed"
    assert "could not convert string to float" in str(row["reason"]) and "see the log" not in str(row["reason"])


def test_a_bad_page_class_fails_validation_and_never_crashes_a_crawl(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "sources"
    folder.mkdir()
    bad = folder / "site.yaml"
    bad.write_text(GOOD.format(name="site") + "page: nosuchsite.NoSuchPage\n", encoding="utf-8")
    env = {"ADWATCH_SOURCES_DIR": str(folder)}
    validated = run_adwatch("sources", "validate", home=home, env=env)
    assert validated.returncode == 1
    (line,) = _errors(validated.stderr)
    assert str(bad) in line and "page" in line and "no page module" in line
    crawled = run_adwatch("crawl", "site", home=home, env=env)
    assert crawled.returncode != 0 and "Traceback" not in crawled.stderr
    assert any(str(bad) in line and "no page module" in line for line in _errors(crawled.stderr))


def test_run_crawls_records_a_source_whose_crawler_cannot_be_made(home: Path) -> None:
    # run_crawls is also called by the demo and the scheduler's children: a name with no spider
    # (its source file stopped loading after the caller looked) is a failed run, not a KeyError.
    code = ("from adwatch.crawling import run_crawls; from adwatch.settings import load_settings;"
            "import json; print(json.dumps(run_crawls(load_settings(), ['nosuchsource'])))")
    env = {"ADWATCH_HOME": str(home), "PYTHONWARNINGS": "error"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    (row,) = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["status"] == "failed" and "nosuchsource" in str(row["reason"])
    assert len(_errors(result.stderr)) == 1


def test_a_crawl_of_a_source_whose_file_is_broken_is_a_failed_run(home: Path, tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "good.yaml").write_text(GOOD.format(name="good"), encoding="utf-8")
    (sources / "broken.yaml").write_text(GOOD.format(name="broken") + "page: spiders.pages.NoSuchPage\n",
                                         encoding="utf-8")
    env = {"ADWATCH_SOURCES_DIR": str(sources)}
    result = run_adwatch("crawl", "broken", "--json", home=home, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (row,) = json.loads(result.stdout)
    assert row["source"] == "broken" and row["status"] == "failed" and "page" in str(row["reason"])
    (recorded,) = json.loads(run_adwatch("runs", "--json", home=home, env=env, check=True).stdout)
    assert recorded["id"] == row["id"] and recorded["status"] == "failed"
    # A name no file declares is still unknown, not a run.
    unknown = run_adwatch("crawl", "nosuch", home=home, env=env)
    assert unknown.returncode == 2 and "unknown source(s): nosuch" in unknown.stderr
