from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.source_schema import check_base_url, load_sources, parse_source
from tests.conftest import ROOT, run_adwatch

GOOD = """
name: {name}
start_urls: ["http://127.0.0.1:1/list/"]
ad_id_pattern: "/ad/(\\\\d+)"
listing:
  ad_links: "a.ad::attr(href)"
  next_page: "xpath://a[@rel='next']/@href"
fields:
  title: "h1"
  text: "div.body"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_sources_are_valid() -> None:
    sources, problems = load_sources(ROOT / "config" / "sources")
    assert problems == []
    assert {"annonsguiden", "nightlist"} <= set(sources)
    assert sources["annonsguiden"].politeness.obey_robots is True


def test_good_file_gets_defaults(tmp_path: Path) -> None:
    source, problems = parse_source(write(tmp_path, "site", GOOD.format(name="site")))
    assert problems == [] and source is not None
    assert source.allowed_domains == ["127.0.0.1"]
    assert source.region is None and source.politeness.obey_robots  # ADWATCH_DEFAULT_REGION applies


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (("a.ad::attr(href)", "a.ad[[["), "listing.ad_links", "invalid selector"),
        (("xpath://a[@rel='next']/@href", "xpath://a[@rel="), "listing.next_page", "invalid selector"),
        (("/ad/(\\\\d+)", "/ad/\\\\d+"), "ad_id_pattern", "exactly one capture group"),
        (("/ad/(\\\\d+)", "/ad/(\\\\d+"), "ad_id_pattern", "invalid regex"),
        (('["http://127.0.0.1:1/list/"]', '["ftp://x/"]'), "start_urls", "not an http(s) URL"),
        (('["http://127.0.0.1:1/list/"]', "[]"), "start_urls", "at least 1"),
        (('  text: "div.body"', '  text: "div.body"\n  colour: "red"'), "fields.colour", "Extra inputs"),
        (('  title: "h1"\n', ""), "fields.title", "Field required"),
        (("name: {name}", "name: {name}\nregion: XX"), "region", "unknown phone region"),
        (("name: {name}", "name: {name}\npoliteness: {{delay: -1}}"), "politeness.delay", "greater than"),
        # page: must name an importable page class under spiders.pages, checked when the file is read.
        (("name: {name}", "name: {name}\npage: nosuchsite.NoSuchPage"), "page", "no page module"),
        (("name: {name}", "name: {name}\npage: selectors.NoSuchPage"), "page", "has no NoSuchPage"),
        (("name: {name}", "name: {name}\npage: selectors.ListingPage"), "page", "is not a page class"),
        (("name: {name}", "name: {name}\npage: selectors.now_iso"), "page", "is not a page class"),
        (("name: {name}", "name: {name}\npage: ../../etc.X"), "page", "not a dotted name"),
        (("name: {name}", "name: {name}\npage: SelectorAdPage"), "page", "not a dotted name"),
    ],
)
def test_broken_file_names_file_field_and_reason(tmp_path: Path, change: tuple[str, str], field: str,
                                                 reason: str) -> None:
    text = GOOD.replace(*change).format(name="site")
    assert text != GOOD.format(name="site"), "the change must apply"
    source, problems = parse_source(write(tmp_path, "site", text))
    assert source is None
    assert any(p.field == field and reason in p.reason for p in problems), problems
    assert all(p.file.endswith("site.yaml") for p in problems)


def test_name_must_match_file(tmp_path: Path) -> None:
    _, problems = parse_source(write(tmp_path, "site", GOOD.format(name="other")))
    assert [p.field for p in problems] == ["name"]


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    _, problems = parse_source(write(tmp_path, "bad", "name: [unclosed\n"))
    assert problems and "invalid YAML" in problems[0].reason
    _, problems = parse_source(write(tmp_path, "list", "- a\n- b\n"))
    assert problems and "mapping" in problems[0].reason


def test_one_bad_file_does_not_hide_the_good_ones(tmp_path: Path) -> None:
    write(tmp_path, "good", GOOD.format(name="good"))
    write(tmp_path, "bad", "name: bad\nstart_urls: nope\n")
    sources, problems = load_sources(tmp_path)
    assert list(sources) == ["good"]
    assert {p.file for p in problems} == {str(tmp_path / "bad.yaml")}


def test_rebased_keeps_path_and_moves_host(tmp_path: Path) -> None:
    source, _ = parse_source(write(tmp_path, "site", GOOD.format(name="site")))
    assert source is not None
    moved = source.rebased("http://127.0.0.1:4321")
    assert moved.start_urls == ["http://127.0.0.1:4321/list/"]
    with pytest.raises(ValueError):
        source.rebased("not a url")
    assert source.rebased("https://[::1]:8443/").start_urls == ["https://[::1]:8443/list/"]


def test_a_named_page_class_that_exists_is_accepted(tmp_path: Path) -> None:
    text = GOOD.format(name="site").replace("name: site", "name: site\npage: selectors.SelectorAdPage")
    source, problems = parse_source(write(tmp_path, "site", text))
    assert problems == [] and source is not None and source.page == "selectors.SelectorAdPage"


@pytest.mark.parametrize(("url", "reason"), [
    ("garbage", "not an absolute http(s) URL"),
    ("file:///etc", "not an absolute http(s) URL"),
    ("ftp://127.0.0.1/", "not an absolute http(s) URL"),
    ("http://", "not an absolute http(s) URL"),
    ("http://127.0.0.1:99999", "Port out of range"),
    ("http://127.0.0.1:8765/other/path", "only scheme, host and port"),
    ("http://127.0.0.1:8765/?q=1", "only scheme, host and port"),
])
def test_a_bad_base_url_is_refused_with_its_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_base_url(url)


def test_a_base_url_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        check_base_url("http://analyst:s3cret@127.0.0.1:8765")
    assert "s3cret" not in str(caught.value) and "password" in str(caught.value)


def test_cli_validate_prints_one_line_per_problem(tmp_path: Path, home: Path) -> None:
    bad = write(tmp_path, "bad", GOOD.format(name="bad").replace("a.ad::attr(href)", "a.ad[[[").replace(
        'text: "div.body"', 'text: "div.body"\n  colour: red'))
    result = run_adwatch("sources", "validate", str(bad), home=home)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert all(str(bad) in line for line in lines)
    assert "Traceback" not in result.stderr
    good = write(tmp_path, "good", GOOD.format(name="good"))
    assert run_adwatch("sources", "validate", str(good), home=home).returncode == 0


def test_cli_sources_list_reports_broken_folder(tmp_path: Path, home: Path) -> None:
    write(tmp_path, "good", GOOD.format(name="good"))
    write(tmp_path, "bad", ": : :\n")
    result = run_adwatch("sources", "list", "--json", home=home, env={"ADWATCH_SOURCES_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert '"good"' in result.stdout and "bad.yaml" in result.stderr
