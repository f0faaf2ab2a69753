"""Posts of a public channel's web preview and entries of an RSS/Atom feed, read into plain records.

The spider (``spiders/feeds.py``) decides what to follow; this module only reads. Each post
is read on its own, so one broken post is one error, not a lost page. The HTML inside a
post or a feed entry is written by strangers: BeautifulSoup reads it whatever its state
(unclosed tags, control characters), and nothing in it is ever run.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin

import feedparser
from bs4 import BeautifulSoup
from parsel import Selector

from spiders.deep_nesting import depth_of, flatten

ChannelState = Literal["posts", "private", "gone"]

TITLE_CHARS = 80
_DATA_POST = re.compile(r"^([A-Za-z0-9_]{1,64})/(\d{1,12})$")
_BACKGROUND = re.compile(r"background-image\s*:\s*url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", re.IGNORECASE)
_PRIVATE = re.compile(r"\bprivate\b|privat", re.IGNORECASE)
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_ID_CHARS = re.compile(r"^[\x21-\x7e]{1,200}$")  # a guid usable as a site id: short, printable, no spaces
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_BLOCK = re.compile(r"</?(?:p|div|li)\b[^>]{0,2000}>", re.IGNORECASE)  # a line break before each
# The HTML of one post or entry read at most (ten times the text an ad keeps, ADWATCH_MAX_TEXT_CHARS'
# default): the rest of a giant entry is dropped before parsing, its text would be cut anyway.
MAX_FRAGMENT_CHARS = 200_000
FRAGMENT_DEPTH = 200  # no post is written deeper; a deeper one is flattened (spiders/deep_nesting.py)


@dataclass
class PostRecord:
    """One post or entry, as the page or feed shows it (the spider turns it into an Ad)."""

    site_id: str  # "<channel>/<post id>" for channels; the feed's own id for feeds
    url: str
    number: int | None = None  # the post id within its channel (channels only)
    poster: str | None = None
    posted_at: str | None = None  # as written: ISO 8601 or the feed's date
    title: str = ""
    text: str = ""
    images: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    edited: bool = False


def html_fragment_text(fragment: str, base_url: str) -> tuple[str, list[str]]:
    """The readable text of an HTML fragment (line breaks kept) and the links it holds.

    Linear in the fragment, however deep its nesting: the line breaks of <br> and of block
    elements are put into the markup before parsing (inserting them into the parsed tree
    costs a walk per block, hours for a hostile entry), and the fragment is capped first."""
    fragment = fragment[:MAX_FRAGMENT_CHARS]
    if depth_of(fragment) > FRAGMENT_DEPTH:  # the parser is slow on deep nesting: tags below go, text stays
        fragment = flatten(fragment, keep=FRAGMENT_DEPTH)
    fragment = _BREAK.sub("\n", fragment)
    fragment = _BLOCK.sub(lambda m: "\n" + m.group(0), fragment)
    # Wrapped: a fragment that is only a URL or starts like an XML file is still a fragment (and
    # bs4 does not warn about it, which would be an error under PYTHONWARNINGS=error).
    soup = BeautifulSoup(f"<div>{fragment}</div>", "html.parser")
    for dead in soup(["script", "style", "template"]):
        dead.decompose()
    links: list[str] = []
    for anchor in soup.find_all("a", href=True):
        href = str(anchor.get("href") or "").strip()
        if href and not href.lower().startswith(("javascript:", "data:", "vbscript:")):
            links.append(urljoin(base_url, href))
    text = soup.get_text()
    text = _BLANK_LINES.sub("\n\n", "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines()))
    return text.strip(), list(dict.fromkeys(links))


def with_links(text: str, links: list[str]) -> str:
    """The text, then every link it does not already spell out (one a line), so they are searchable."""
    extra = [link for link in links if link not in text]
    return text + ("\n\n" + "\n".join(extra) if extra else "")


def first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


# -- channel pages -------------------------------------------------------------------


class ChannelPage:
    """One page of a channel's public web preview (the shape of t.me/s/<channel>)."""

    def __init__(self, text: str, url: str) -> None:
        self.url = url
        self.sel = Selector(text=text)

    def state(self) -> ChannelState:
        if self.sel.css("section.tgme_channel_history, .js-message_history, div.tgme_widget_message"):
            return "posts"
        page_text = " ".join(self.sel.css(".tgme_page_description ::text, .tgme_page_title ::text").getall())
        if self.sel.css(".tgme_page_private") or _PRIVATE.search(page_text):
            return "private"
        return "gone"

    def older_url(self) -> str | None:
        href = self.sel.css("a.tme_messages_more::attr(href), a.js-messages_more::attr(href)").get()
        if not href:
            before = self.sel.css("[data-before]::attr(data-before)").get()
            href = f"?before={before}" if before and before.isdigit() else None
        return urljoin(self.url, href.strip()) if href else None

    def messages(self) -> list[Selector]:
        return list(self.sel.css("div.tgme_widget_message"))

    def post(self, message: Selector) -> PostRecord:
        """One message as a record (raises ValueError on a message it cannot place)."""
        data_post = (message.attrib.get("data-post") or "").strip()
        match = _DATA_POST.match(data_post)
        if match is None:
            raise ValueError(f"message without a usable data-post: {data_post[:80]!r}")
        href = message.css("a.tgme_widget_message_date::attr(href)").get()
        url = urljoin(self.url, href) if href else urljoin(self.url, f"/s/{data_post}")
        fragment = message.css("div.tgme_widget_message_text").get() or ""
        text, links = html_fragment_text(fragment, self.url)
        images = [urljoin(self.url, src) for style in message.css(
            ".tgme_widget_message_photo_wrap::attr(style), .tgme_widget_message_video_thumb::attr(style)").getall()
            for src in _BACKGROUND.findall(style)]
        poster = (message.css(".tgme_widget_message_from_author ::text").get()
                  or message.css(".tgme_widget_message_owner_name ::text").get() or match.group(1))
        meta = " ".join(message.css(".tgme_widget_message_meta ::text").getall())
        return PostRecord(
            site_id=data_post, url=url, number=int(match.group(2)), poster=poster.strip() or None,
            posted_at=message.css("time::attr(datetime)").get(), title=first_line(text),
            text=with_links(text, links), images=list(dict.fromkeys(images)), links=links,
            edited=bool(message.css(".tgme_widget_message_edited")) or "edited" in meta)


def parse_when(value: str | None) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime, None when unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    except (ValueError, OverflowError):  # "0001-01-01T00:00+05:00" overflows when moved to UTC
        return None


# -- RSS and Atom --------------------------------------------------------------------


def _struct_time_iso(value: Any) -> str | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return None


def _entry_html(entry: Any) -> str:
    for content in entry.get("content") or []:
        if isinstance(content, dict) and content.get("value"):
            return str(content["value"])
    return str(entry.get("summary") or entry.get("description") or "")


def _entry_images(entry: Any, base: str) -> list[str]:
    found: list[str] = []
    for enclosure in entry.get("enclosures") or []:
        href = enclosure.get("href") or enclosure.get("url")
        if href and str(enclosure.get("type") or "image/").startswith("image/"):
            found.append(str(href))
    for media in (entry.get("media_content") or []) + (entry.get("media_thumbnail") or []):
        if isinstance(media, dict) and media.get("url") and str(media.get("medium", "image")) == "image":
            found.append(str(media["url"]))
    return list(dict.fromkeys(urljoin(base, u) for u in found))


def feed_site_id(entry: Any, link: str, pattern: str | None) -> str | None:
    """The entry's id: the source's ``ad_id_pattern`` on its link or guid, else the guid itself."""
    guid = str(entry.get("id") or "").strip()
    if pattern:
        for candidate in (link, guid):
            match = re.search(pattern, candidate) if candidate else None
            if match:
                return match.group(1)
    if guid and _ID_CHARS.match(guid):
        return guid
    return None


class FeedDocument:
    """An RSS or Atom document. ``broken``: feedparser found it malformed (it still reads what it can)."""

    def __init__(self, body: bytes, url: str) -> None:
        self.url = url
        # Bytes, never a URL: feedparser fetches nothing itself here.
        self.parsed = feedparser.parse(body, sanitize_html=True, resolve_relative_uris=False)
        self.broken = bool(self.parsed.get("bozo"))
        self.problem = str(self.parsed.get("bozo_exception") or "")[:200]

    def is_feed(self) -> bool:
        return bool(self.parsed.entries) or bool(self.parsed.get("version")) or bool(self.parsed.feed.get("title"))

    def entries(self) -> Iterator[Any]:
        yield from self.parsed.entries

    def post(self, entry: Any, pattern: str | None) -> PostRecord | None:
        """One entry as a record; None when it has neither a link nor an id to know it by."""
        raw_link = str(entry.get("link") or "").strip()
        link = urljoin(self.url, raw_link) if raw_link else ""
        site_id = feed_site_id(entry, link, pattern)
        if site_id is None and not link:
            return None
        text, links = html_fragment_text(_entry_html(entry), link or self.url)
        title_html = str(entry.get("title") or "")
        title = first_line(html_fragment_text(title_html, self.url)[0]) if title_html else first_line(text)
        posted = (_struct_time_iso(entry.get("published_parsed")) or _struct_time_iso(entry.get("updated_parsed"))
                  or entry.get("published") or entry.get("updated"))
        if link and link not in links:
            links.insert(0, link)
        return PostRecord(
            site_id=site_id or "", url=link or self.url, poster=(str(entry.get("author") or "").strip() or None),
            posted_at=str(posted) if posted else None, title=title or first_line(text),
            text=with_links(text, [u for u in links if u != link]), images=_entry_images(entry, link or self.url),
            links=links)
