"""Selector-driven pages: what a source file's CSS/XPath selectors say a page holds."""

from __future__ import annotations

from scrapy.http import TextResponse

from adwatch.core.clock import now_iso
from config.source_schema import Source, select
from spiders.ids import ad_id, site_ad_id
from spiders.items import Ad


def _first(response: TextResponse, expr: str | None) -> str | None:
    if not expr:
        return None
    values = [v for v in select(response, expr).getall() if v.strip()]
    return "\n".join(values) if values else None


class ListingPage:
    def __init__(self, response: TextResponse, source: Source) -> None:
        if source.listing is None:
            raise ValueError(f"source {source.name} has no listing selectors (kind {source.kind})")
        self.response = response
        self.source = source
        self.listing = source.listing

    def _urls(self, expr: str | None) -> list[str]:
        if not expr:
            return []
        seen: dict[str, None] = {}
        for href in select(self.response, expr).getall():
            href = href.strip()
            if href and not href.startswith(("javascript:", "mailto:", "#")):
                seen.setdefault(self.response.urljoin(href), None)
        return list(seen)

    def ad_urls(self) -> list[str]:
        return self._urls(self.listing.ad_links)

    def next_page_url(self) -> str | None:
        urls = self._urls(self.listing.next_page)
        return urls[0] if urls else None

    def listing_urls(self) -> list[str]:
        return [url for expr in self.listing.follow for url in self._urls(expr)]


class SelectorAdPage:
    """One method per Ad field; values are raw (HTML or text): normalize cleans them.

    ``default_region`` is ADWATCH_DEFAULT_REGION, for a source that names no region;
    ``listed_id`` is the id the listing gave the ad, which it keeps after a redirect.
    """

    def __init__(self, response: TextResponse, source: Source, default_region: str,
                 listed_id: str | None = None) -> None:
        self.response = response
        self.source = source
        if source.fields is None:
            raise ValueError(f"source {source.name} has no field selectors (kind {source.kind})")
        self.fields = source.fields
        self.default_region = default_region
        self.listed_id = listed_id

    def ad(self) -> Ad:
        """The Ad this page shows (raises on a page it cannot read)."""
        return Ad(
            id=self.id(), source=self.source.name, url=self.url(), site_id=self.site_id(),
            fetched_at=self.fetched_at(), region=self.region(), timezone=self.timezone(),
            title=self.title(), text=self.text(), posted_at=self.posted_at(), location=self.location(),
            poster=self.poster(), age=self.age(), price=self.price(), phone_field=self.phone(),
            images=self.images(),
        )

    def id(self) -> str:
        return self.listed_id or ad_id(self.source.name, self.response.url, self.source.ad_id_pattern)

    def url(self) -> str:
        return self.response.url

    def site_id(self) -> str | None:
        # After a redirect the final URL may have lost the id; the requested one has it.
        requested = self.response.request.url if self.response.request else ""
        return (site_ad_id(self.response.url, self.source.ad_id_pattern)
                or site_ad_id(requested, self.source.ad_id_pattern))

    def fetched_at(self) -> str:
        return now_iso()

    def region(self) -> str:
        return self.source.region or self.default_region

    def timezone(self) -> str:
        return self.source.timezone

    def title(self) -> str:
        return _first(self.response, self.fields.title) or ""

    def text(self) -> str:
        return _first(self.response, self.fields.text) or ""

    def posted_at(self) -> str | None:
        return _first(self.response, self.fields.posted_at)

    def location(self) -> str | None:
        return _first(self.response, self.fields.location)

    def poster(self) -> str | None:
        return _first(self.response, self.fields.poster)

    def age(self) -> str | None:
        return _first(self.response, self.fields.age)

    def price(self) -> str | None:
        return _first(self.response, self.fields.price)

    def phone(self) -> str | None:
        return _first(self.response, self.fields.phone)

    def images(self) -> list[str]:
        if not self.fields.images:
            return []
        values = select(self.response, self.fields.images).getall()
        return [self.response.urljoin(v.strip()) for v in values if v.strip()]
