"""Selector-driven pages: what a source file's CSS/XPath selectors say a page holds."""

from __future__ import annotations

from scrapy.http import TextResponse

from config.source_schema import Source, select


def _first(response: TextResponse, expr: str | None) -> str | None:
    if not expr:
        return None
    values = [v for v in select(response, expr).getall() if v.strip()]
    return "\n".join(values) if values else None


class ListingPage:
    def __init__(self, response: TextResponse, source: Source) -> None:
        self.response = response
        self.source = source

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
        return self._urls(self.source.listing.ad_links)

    def next_page_url(self) -> str | None:
        urls = self._urls(self.source.listing.next_page)
        return urls[0] if urls else None

    def listing_urls(self) -> list[str]:
        return [url for expr in self.source.listing.follow for url in self._urls(expr)]


class SelectorAdPage:
    """One method per Ad field; values are raw (HTML or text): normalize cleans them."""

    def __init__(self, response: TextResponse, source: Source) -> None:
        self.response = response
        self.source = source
        self.fields = source.fields

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
