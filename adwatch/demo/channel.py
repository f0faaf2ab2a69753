"""The social channels of the demo world: a public channel's web preview, its RSS and Atom feeds.

Shaped like a public Telegram channel preview: ``/s/<channel>`` shows the newest posts,
``/s/<channel>?before=<post id>`` the ones before that id, a "load older" link
(``a.tme_messages_more``) at the top of each page while older posts exist; each post is a
``div.tgme_widget_message`` with ``data-post="<channel>/<id>"``. ``/s/<channel>/<id>`` is one
post. ``/rss/<channel>.xml`` (RSS 2.0) and ``/rss/<channel>.atom`` (Atom) list the newest posts.

The site clock moves the channel too: a post shows from the day it was posted, an edited
post shows its new text from its edit day, a deleted post is gone from its deletion day.
With the clock stopped (``site.today`` None) the channel is as it stands on the anchor day.
Tests can also edit and delete posts at once (``edit``, ``delete``). ``gammalkanal`` is a
channel that no longer exists (404), ``privatklubben`` a private one (a page, no posts).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from email.utils import format_datetime
from html import escape
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as xml_escape

from adwatch.demo.channel_posts import (
    CHANNEL,
    CHANNEL_TITLE,
    GONE_CHANNEL,
    PRIVATE_CHANNEL,
    Post,
    generate_posts,
)

if TYPE_CHECKING:
    from adwatch.demo.server import DemoSite

PAGE_SIZE = 20  # posts per channel page, like the real preview
FEED_SIZE = 50  # posts in the RSS/Atom feed
_SINGLE = re.compile(r"^/s/([A-Za-z0-9_]{1,64})/(\d{1,9})$")
_CHANNEL = re.compile(r"^/s/([A-Za-z0-9_]{1,64})/?$")
_FEED = re.compile(r"^/rss/([A-Za-z0-9_]{1,64})\.(xml|atom)$")
_FIRST_LINE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")


class DemoChannels:
    def __init__(self, site: DemoSite, seed: int = 7) -> None:
        self.site = site
        self.seed = seed
        self.posts: list[Post] = generate_posts(site.ads, site.anchor, seed=seed)  # oldest first
        self._by_id = {p.id: p for p in self.posts}
        # What tests switch at once, whatever the clock says.
        self._edits: dict[int, str] = {}
        self._deleted: set[int] = set()

    # -- what tests switch ----------------------------------------------------

    def edit(self, post_id: int, html: str) -> None:
        """Replace a post's text now (escaped by the caller where needed)."""
        self._edits[post_id] = html

    def delete(self, post_id: int) -> None:
        self._deleted.add(post_id)

    def reset(self) -> None:
        self._edits.clear()
        self._deleted.clear()

    # -- the channel as it stands on the clock's day ----------------------------

    def _day(self) -> date:
        return self.site.today or self.site.until or self.site.anchor

    def shown(self, post: Post) -> bool:
        day = self._day()
        if post.id in self._deleted or post.posted_at.date() > day:
            return False
        return post.deleted_on is None or day < post.deleted_on

    def edited(self, post: Post) -> bool:
        if post.id in self._edits:
            return True
        return post.edited_on is not None and post.edited_on <= self._day()

    def text_of(self, post: Post) -> str:
        """The post's text (HTML) as the channel shows it now."""
        if post.id in self._edits:
            return self._edits[post.id]
        return post.edited_html if self.edited(post) and post.edited_html is not None else post.html

    def visible(self) -> list[Post]:
        """The posts shown now, oldest first."""
        return [p for p in self.posts if self.shown(p)]

    def page(self, before: int | None) -> tuple[list[Post], bool]:
        """One page (oldest first) and whether older posts exist."""
        posts = [p for p in self.visible() if before is None or p.id < before]
        chunk = posts[-PAGE_SIZE:]
        return chunk, len(posts) > len(chunk)

    def post(self, post_id: int) -> Post | None:
        post = self._by_id.get(post_id)
        return post if post is not None and self.shown(post) else None

    # -- HTTP ---------------------------------------------------------------------

    def route(self, handler: Any, path: str, query: dict[str, list[str]]) -> None:
        html = "text/html; charset=utf-8"
        if (match := _FEED.match(path)) is not None:
            if match.group(1) != CHANNEL:
                handler._send(404, "<?xml version='1.0'?><error>channel not found</error>", "application/xml")
            elif match.group(2) == "xml":
                handler._send(200, self.rss(_base(handler)), "application/rss+xml; charset=utf-8")
            else:
                handler._send(200, self.atom(_base(handler)), "application/atom+xml; charset=utf-8")
        elif (match := _SINGLE.match(path)) is not None:
            post = self.post(int(match.group(2))) if match.group(1) == CHANNEL else None
            if post is None:
                handler._send(404, _not_found_page(), html)
            else:
                handler._send(200, self._layout([post], older=None), html)
        elif (match := _CHANNEL.match(path)) is not None:
            name = match.group(1)
            if name == PRIVATE_CHANNEL:
                handler._send(200, _private_page(name), html)
            elif name != CHANNEL:  # gone (gammalkanal) or never existed
                handler._send(404, _not_found_page(), html)
            else:
                before = _before(query)
                posts, more = self.page(before)
                older = posts[0].id if more and posts else None
                handler._send(200, self._layout(posts, older, sponsored=before is None), html)
        else:
            handler._send(404, _not_found_page(), html)

    def _layout(self, posts: list[Post], older: int | None, sponsored: bool = False) -> str:
        more = (f'<div class="tgme_widget_message_centered js-messages_more_wrap">'
                f'<a href="/s/{CHANNEL}?before={older}" class="tme_messages_more js-messages_more" '
                f'data-before="{older}">Load older</a></div>') if older is not None else ""
        body = "\n".join(self._message(p) for p in posts)
        if sponsored:  # a message block no reader can place (no post id): it must cost one post, not the page
            body += SPONSORED
        return (
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>{escape(CHANNEL_TITLE)} – Telegram</title></head>"
            '<body class="widget_frame_base tgme_webpreview_body"><header class="tgme_header">'
            f'<div class="tgme_channel_info_header_title"><span dir="auto">{escape(CHANNEL_TITLE)}</span></div>'
            f'<div class="tgme_channel_info_header_username"><a href="/s/{CHANNEL}">@{CHANNEL}</a></div>'
            '</header><main class="tgme_main"><section class="tgme_channel_history js-message_history">'
            f"{more}\n{body}\n</section></main></body></html>"
        )

    def _message(self, post: Post) -> str:
        photos = "".join(
            f'<a class="tgme_widget_message_photo_wrap" href="/s/{CHANNEL}/{post.id}?single" '
            f"style=\"width:800px;background-image:url('{src}')\"></a>" for src in post.photos)
        edited = '<span class="tgme_widget_message_edited">edited</span> ' if self.edited(post) else ""
        return (
            '<div class="tgme_widget_message_wrap js-widget_message_wrap">'
            f'<div class="tgme_widget_message js-widget_message" data-post="{CHANNEL}/{post.id}">'
            '<div class="tgme_widget_message_bubble">'
            '<div class="tgme_widget_message_author accent_color">'
            f'<a class="tgme_widget_message_owner_name" href="/s/{CHANNEL}"><span dir="auto">'
            f"{escape(CHANNEL_TITLE)}</span></a></div>"
            f"{photos}"
            f'<div class="tgme_widget_message_text js-message_text" dir="auto">{self.text_of(post)}</div>'
            '<div class="tgme_widget_message_footer compact js-message_footer">'
            '<div class="tgme_widget_message_info short js-message_info">'
            f'<span class="tgme_widget_message_views">{_views(post.views)}</span>'
            f'<span class="tgme_widget_message_from_author" dir="auto">{escape(post.author)}</span>'
            f'<span class="tgme_widget_message_meta">{edited}'
            f'<a class="tgme_widget_message_date" href="/s/{CHANNEL}/{post.id}">'
            f'<time datetime="{post.posted_at.isoformat()}" class="time">{post.posted_at:%H:%M}</time>'
            "</a></span></div></div></div></div></div>"
        )

    # -- feeds -----------------------------------------------------------------------

    def _feed_posts(self) -> list[Post]:
        return list(reversed(self.visible()[-FEED_SIZE:]))  # newest first, as feeds are

    def rss(self, base: str) -> str:
        items = []
        for post in self._feed_posts():
            link = f"{base}/s/{CHANNEL}/{post.id}"
            enclosures = "".join(f'<enclosure url="{xml_escape(base + src)}" type="image/jpeg" length="0"/>'
                                 for src in post.photos)
            text = self.text_of(post)
            # Most descriptions are CDATA; every fifth is escaped HTML, as some generators write it.
            description = (xml_escape(text) if post.id % 5 == 0
                           else f"<![CDATA[{text.replace(']]>', ']]&gt;')}]]>")
            items.append(
                f"<item><title>{xml_escape(_title(text))}</title><link>{link}</link>"
                f'<guid isPermaLink="true">{link}</guid>'
                f"<pubDate>{format_datetime(post.posted_at)}</pubDate>"
                f"<author>{xml_escape(post.author)}</author>"
                f"<description>{description}</description>{enclosures}</item>")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
                f"<title>{xml_escape(CHANNEL_TITLE)}</title><link>{base}/s/{CHANNEL}</link>"
                f"<description>Public posts of @{CHANNEL}</description>\n" + "\n".join(items) + "\n</channel></rss>")

    def atom(self, base: str) -> str:
        entries = []
        for post in self._feed_posts():
            link = f"{base}/s/{CHANNEL}/{post.id}"
            updated = post.posted_at if not self.edited(post) else datetime.combine(
                post.edited_on or self._day(), post.posted_at.timetz())
            photos = "".join(f'<link rel="enclosure" type="image/jpeg" href="{xml_escape(base + src)}"/>'
                             for src in post.photos)
            entries.append(
                f"<entry><id>{link}</id><title>{xml_escape(_title(self.text_of(post)))}</title>"
                f'<link rel="alternate" href="{link}"/>{photos}'
                f"<published>{post.posted_at.isoformat()}</published><updated>{updated.isoformat()}</updated>"
                f"<author><name>{xml_escape(post.author)}</name></author>"
                f'<content type="html">{xml_escape(self.text_of(post))}</content></entry>')
        newest = self._feed_posts()[0].posted_at.isoformat() if self.visible() else "2000-01-01T00:00:00Z"
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{xml_escape(CHANNEL_TITLE)}</title><id>{base}/s/{CHANNEL}</id><updated>{newest}</updated>"
                f'<link rel="alternate" href="{base}/s/{CHANNEL}"/>\n' + "\n".join(entries) + "\n</feed>")


SPONSORED = ('\n<div class="tgme_widget_message_wrap"><div class="tgme_widget_message js-widget_message" '
             f'data-post="{CHANNEL}/sponsored"><div class="tgme_widget_message_text">Sponsrat: '
             "<b>köp följare</b></div></div></div>")


def _base(handler: Any) -> str:
    # Feeds carry absolute links; the Host header is what the client asked for (the demo runs
    # on loopback only, so it is not a way to point links elsewhere).
    host = handler.headers.get("Host") or "127.0.0.1"
    return f"http://{host}" if re.fullmatch(r"[A-Za-z0-9.\-:\[\]]{1,100}", host) else "http://127.0.0.1"


def _before(query: dict[str, list[str]]) -> int | None:
    raw = query.get("before", [""])[0]
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


def _title(html: str) -> str:
    first = _FIRST_LINE.split(html, maxsplit=1)[0]
    return _TAGS.sub("", first)[:120]


def _views(count: int) -> str:
    return f"{count / 1000:.1f}K" if count >= 1000 else str(count)


def _not_found_page() -> str:
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Telegram</title></head><body>'
            '<div class="tgme_page"><div class="tgme_page_title">Channel not found</div>'
            '<div class="tgme_page_description">This channel does not exist or was deleted.</div>'
            "</div></body></html>")


def _private_page(name: str) -> str:
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Telegram</title></head><body>'
            '<div class="tgme_page tgme_page_private">'
            f'<div class="tgme_page_title"><span dir="auto">{escape(name)}</span></div>'
            '<div class="tgme_page_description">This channel is private. '
            "Only its members can see its posts.</div></div></body></html>")


__all__ = ["CHANNEL", "GONE_CHANNEL", "PRIVATE_CHANNEL", "DemoChannels"]
