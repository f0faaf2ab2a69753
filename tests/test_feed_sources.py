"""``kind: feed`` sources end to end: `adwatch crawl` against the demo channel on loopback, a temp SQLite store."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adwatch.demo.channel_posts import CHANNEL, FOREIGN_REGIONS, example_number
from adwatch.demo.server import DemoSite
from index.sqlite import SqliteStore
from tests.conftest import ROOT, run_adwatch

SOURCES = ROOT / "config" / "sources"
KANAL, RSS = "kanal_escortsverige", "kanal_escortsverige_rss"


@pytest.fixture
def site() -> Iterator[DemoSite]:
    # A small world: the channel keeps its ~300 posts; sites A and B are what the pivot needs.
    with DemoSite(seed=7, count=60, flaky=False) as demo:
        yield demo


def write_sources(folder: Path, horizon: str = "90d") -> Path:
    """The real source files (the templates users copy), plus a gone and a private channel."""
    folder.mkdir(exist_ok=True)
    for name in ("annonsguiden", KANAL, RSS):
        shutil.copy(SOURCES / f"{name}.yaml", folder / f"{name}.yaml")
    kanal = (SOURCES / f"{KANAL}.yaml").read_text(encoding="utf-8")
    (folder / f"{KANAL}.yaml").write_text(kanal.replace("horizon: 90d", f"horizon: {horizon}"), encoding="utf-8")
    for name, channel in (("kanal_gone", "gammalkanal"), ("kanal_private", "privatklubben")):
        text = kanal.replace(f"name: {KANAL}", f"name: {name}").replace(f"/s/{CHANNEL}", f"/s/{channel}")
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    return write_sources(tmp_path / "sources")


def crawl(site: DemoSite, home: Path, sources: Path, *names: str, refresh: bool = False,
          removed_after: int = 2) -> list[dict[str, Any]]:
    result = run_adwatch("crawl", *names, "--base-url", site.base_url, "--json", *(["--refresh"] if refresh else []),
                         "-s", f"ADWATCH_REMOVED_AFTER={removed_after}", home=home,
                         env={"ADWATCH_SOURCES_DIR": str(sources)})
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    assert result.returncode == (0 if all(r["status"] == "ok" for r in runs) else 1), result.stderr[-3000:]
    return runs


def store_of(home: Path) -> SqliteStore:
    return SqliteStore(home / "adwatch.db")


def ids_of(home: Path, source: str) -> set[str]:
    store = store_of(home)
    ids = {row[0] for row in store.db.execute("SELECT id FROM ads WHERE source = ?", (source,))}
    store.close()
    return ids


def post_ids(site: DemoSite, source: str = KANAL) -> set[str]:
    return {f"{source}:{CHANNEL}/{p.id}" for p in site.channels.visible()}


def channel_pages(site: DemoSite) -> list[str]:
    return [target for target, count in site.hits.items() for _ in range(count) if target.startswith("/s/")]


def test_the_channel_is_walked_to_the_first_post_then_only_its_new_pages(site: DemoSite, home: Path,
                                                                         sources: Path) -> None:
    site.set_today(site.anchor - timedelta(days=12))
    then = post_ids(site)
    (run,) = crawl(site, home, sources, KANAL)
    assert (run["status"], run["new_ads"]) == ("ok", len(then))
    assert ids_of(home, KANAL) == then
    pages = channel_pages(site)
    assert len(pages) == len(set(pages)) == math.ceil(len(then) / 20)  # each page once, down to post 1
    assert run["stats"]["adwatch/spider/listing_pages"] == len(pages)
    assert run["stats"]["adwatch/spider/parse_error"] == 1  # the sponsored block, skipped alone
    assert "adwatch/spider/stopped_paging" not in run["stats"]
    # Twelve days later: ~60 new posts. Only their pages are read, plus the first page of known ones.
    site.set_today(None)
    site.hits.clear()
    now = post_ids(site)
    (run,) = crawl(site, home, sources, KANAL)
    assert (run["status"], run["new_ads"]) == ("ok", len(now - then))
    # It stopped at the first page of known posts; that window is judged (nothing was deleted in it).
    assert "adwatch/spider/stopped_paging" not in run["stats"] and run["removed_ads"] == 0
    assert len(channel_pages(site)) <= math.ceil(len(now - then) / 20) + 1
    assert ids_of(home, KANAL) == then | now


def test_an_edited_post_is_a_new_version_and_a_deleted_one_is_removed(site: DemoSite, home: Path,
                                                                      sources: Path) -> None:
    crawl(site, home, sources, KANAL)
    visible = site.channels.visible()
    edited, deleted = visible[-1], visible[-30]  # the newest post; one on the second page
    site.channels.edit(edited.id, site.channels.text_of(edited) + "<br>Nytt pris: 3000 kr")
    site.channels.delete(deleted.id)
    (run,) = crawl(site, home, sources, KANAL, refresh=True)  # a complete walk: absence counts
    assert (run["status"], run["new_ads"], run["updated_ads"], run["removed_ads"]) == ("ok", 0, 1, 0)
    store = store_of(home)
    ad = store.get_ad(f"{KANAL}:{CHANNEL}/{edited.id}")
    assert ad is not None and ad["version"] == 2 and "3000 kr" in ad["text"]
    versions = store.ad_versions(f"{KANAL}:{CHANNEL}/{edited.id}")
    assert [v["version"] for v in versions] == [1] and "3000 kr" not in versions[0]["text"]  # the earlier one
    gone = store.get_ad(f"{KANAL}:{CHANNEL}/{deleted.id}")
    assert gone is not None and gone["removed_at"] is None  # missed once: ADWATCH_REMOVED_AFTER is 2
    store.close()
    (run,) = crawl(site, home, sources, KANAL, refresh=True)
    assert run["removed_ads"] == 1
    store = store_of(home)
    gone = store.get_ad(f"{KANAL}:{CHANNEL}/{deleted.id}")
    assert gone is not None and gone["removed_at"] is not None
    assert store.db.execute("SELECT count(*) FROM ads WHERE removed_at IS NOT NULL").fetchone()[0] == 1
    store.close()


def test_a_walk_cut_at_the_horizon_judges_only_posts_inside_its_window(site: DemoSite, home: Path,
                                                                       tmp_path: Path, sources: Path) -> None:
    crawl(site, home, sources, KANAL)
    visible = site.channels.visible()
    recent, old = visible[-5], visible[10]
    site.channels.delete(recent.id)
    site.channels.delete(old.id)
    short = write_sources(tmp_path / "short", horizon="10d")
    (run,) = crawl(site, home, short, KANAL, refresh=True, removed_after=1)
    assert run["status"] == "ok" and run["stats"]["adwatch/spider/stopped_at_horizon"] == 1
    assert run["removed_ads"] == 1  # the post gone from inside the window; the old one was not looked at
    store = store_of(home)
    removed = {row[0] for row in store.db.execute("SELECT id FROM ads WHERE removed_at IS NOT NULL")}
    store.close()
    assert removed == {f"{KANAL}:{CHANNEL}/{recent.id}"}
    assert len(channel_pages(site)) < 2 * len(visible) // 20  # the second walk read only a few pages


def test_gone_and_private_channels_fail_their_run_with_the_reason(site: DemoSite, home: Path,
                                                                  sources: Path) -> None:
    runs = crawl(site, home, sources, "kanal_gone", "kanal_private")
    reasons = {r["source"]: (r["status"], r["reason"]) for r in runs}
    assert reasons["kanal_gone"][0] == reasons["kanal_private"][0] == "failed"
    assert reasons["kanal_gone"][1].startswith("channel_gone: ")
    assert reasons["kanal_private"][1].startswith("channel_private: ")
    store = store_of(home)
    assert store.runs("kanal_gone")[0]["reason"].startswith("channel_gone: ")
    assert store.runs("kanal_private")[0]["status"] == "failed"
    assert store.db.execute("SELECT count(*) FROM ads").fetchone()[0] == 0
    store.close()


def test_rss_foreign_numbers_hostile_posts_and_the_phone_pivot(site: DemoSite, home: Path, sources: Path) -> None:
    runs = crawl(site, home, sources, "annonsguiden", KANAL, RSS)
    assert [r["status"] for r in runs] == ["ok", "ok", "ok"]
    rss_run = next(r for r in runs if r["source"] == RSS)
    assert rss_run["stats"]["adwatch/spider/feed_malformed"] == 1  # control bytes: read leniently
    store = store_of(home)
    truth = {p.id: p for p in site.channels.posts}
    found: dict[str, dict[str, Any]] = {}
    for source in (KANAL, RSS):
        for ad_id, phones, title in store.db.execute("SELECT id, phones, title FROM ads WHERE source = ?",
                                                     (source,)):
            found[ad_id] = {"phones": set(json.loads(phones or "[]")), "title": title}
    # The feed gives the same (newest) posts as the channel, with the same numbers and titles.
    rss_ids = {i.removeprefix(f"{RSS}:") for i in found if i.startswith(f"{RSS}:")}
    assert rss_ids == {f"{CHANNEL}/{p.id}" for p in site.channels.visible()[-50:]}
    for suffix in rss_ids:
        assert found[f"{RSS}:{suffix}"] == found[f"{KANAL}:{suffix}"], suffix
    # Every post's numbers are found, +48/+40/+234/+7/+421/+44 written internationally too;
    # only the huge post's number lies past the text cap.
    for ad_id, ad in found.items():
        post = truth[int(ad_id.rsplit("/", 1)[1])]
        assert ad["phones"] == (set() if post.hostile == "huge" else set(post.phones)), (ad_id, post.html[:200])
    channel_phones = set().union(*(ad["phones"] for i, ad in found.items() if i.startswith(f"{KANAL}:")))
    assert {example_number(region) for region in FOREIGN_REGIONS} <= channel_phones
    # The hostile posts were stored like the others; the crawl went on past them.
    hostile = {f"{KANAL}:{CHANNEL}/{p.id}" for p in truth.values() if p.hostile}
    assert len(hostile) == 4 and hostile <= set(found)
    store.close()
    # The phone pivot: a number on site A and in the channel shows both.
    shared = next(p for p in site.channels.visible() if (p.shared_with or "").startswith("annons:"))
    result = run_adwatch("phones", shared.phones[0], "--json", home=home, check=True,
                         env={"ADWATCH_SOURCES_DIR": str(sources)})
    pivot = json.loads(result.stdout)
    assert {ad["source"] for ad in pivot["ads"]} >= {"annonsguiden", KANAL}
    assert f"annonsguiden:{shared.shared_with.split(':')[1]}" in {ad["id"] for ad in pivot["ads"]}  # type: ignore[union-attr]


def test_broken_feeds_and_posts_cost_only_themselves() -> None:
    """The readers alone (no crawl): hostile bytes give a record, a skip or a 'not a feed', never a crash."""
    from spiders.pages.feed_posts import ChannelPage, FeedDocument

    assert not FeedDocument(b"\x00\xff<html><body>not a feed", "http://h/f").is_feed()
    rss = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
           b"<item><title>no link, no guid</title></item>"
           b"<item><guid>c/7</guid><title>https://t.me/x</title><description>&lt;b&gt;Ring +48 512 345 678"
           b"</description></item></channel></rss>")
    document = FeedDocument(rss, "http://h/f")
    posts = [document.post(entry, None) for entry in document.entries()]
    assert posts[0] is None  # nothing to know it by: skipped (and counted by the spider)
    assert posts[1] is not None and posts[1].site_id == "c/7" and posts[1].text == "Ring +48 512 345 678"
    page = ChannelPage('<section class="tgme_channel_history"><div class="tgme_widget_message" data-post="c/x">'
                       '</div><div class="tgme_widget_message" data-post="c/9"><div class="tgme_widget_message_text">'
                       '<b>hej<br>\x00då</div><time datetime="2026-11-30T10:00:00+01:00"></time></div>', "http://h/s/c")
    messages = page.messages()
    with pytest.raises(ValueError, match="data-post"):
        page.post(messages[0])
    post = page.post(messages[1])
    assert (post.site_id, post.title, post.posted_at) == ("c/9", "hej", "2026-11-30T10:00:00+01:00")
    assert page.older_url() is None and page.state() == "posts"
    assert ChannelPage("<div class='tgme_page_description'>This channel is private</div>", "u").state() == "private"
    assert ChannelPage("<html></html>", "u").state() == "gone"
