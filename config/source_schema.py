"""Declarative source files (config/sources/*.yaml): schema, loading, clear errors.

A bad file never raises out of here: ``load_sources`` returns the good sources and
one ``SourceProblem`` (file, field, reason) per problem, so the CLI can print one
line each and crawl the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from parsel import Selector
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.source_kinds import BrowserOptions, FeedOptions

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
_PROBE = Selector(text="<html><body></body></html>")


def select(node: Any, expr: str) -> Any:
    """Apply a source selector to a parsel Selector or Scrapy response: CSS by default,
    XPath when written ``xpath:…`` (``css:`` may be written too)."""
    if expr.startswith("xpath:"):
        return node.xpath(expr[len("xpath:") :])
    return node.css(expr.removeprefix("css:"))


def check_selector(value: str) -> str:
    """A selector must be non-empty and compile."""
    expr = value.strip()
    if not expr:
        raise ValueError("empty selector")
    try:
        select(_PROBE, expr)
    except Exception as exc:  # parsel raises several types for bad syntax
        raise ValueError(f"invalid selector {expr!r}: {exc}") from None
    return expr


def check_base_url(url: str) -> str:
    """A base URL (``--base-url``): an absolute http(s) URL with a host and nothing else, since
    only its scheme, host and port replace the source's (the paths are the source's own)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL with a host: {url!r}")
    if parts.username is not None or parts.password is not None:  # never echoed: it may hold a password
        raise ValueError("must not carry a user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment or not url.isprintable() or " " in url:
        raise ValueError(f"give only scheme, host and port, like http://127.0.0.1:8765: {url!r}")
    return url


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListingSelectors(_Strict):
    ad_links: str = Field(description="links from a listing page to ad detail pages")
    next_page: str | None = Field(None, description="the link to the next listing page")
    follow: list[str] = Field(default_factory=list, description="other listing pages (towns, categories)")

    @field_validator("ad_links", "next_page")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        return value if value is None else check_selector(value)

    @field_validator("follow")
    @classmethod
    def _follow(cls, value: list[str]) -> list[str]:
        return [check_selector(v) for v in value]


class FieldSelectors(_Strict):
    title: str
    text: str
    posted_at: str | None = None
    location: str | None = None
    poster: str | None = None
    age: str | None = None
    price: str | None = None
    phone: str | None = None
    images: str | None = None

    @field_validator("*")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        return value if value is None else check_selector(value)


class Politeness(_Strict):
    delay: float = Field(default=0.5, ge=0, le=600, description="seconds between requests")
    concurrency: int = Field(default=4, ge=1, le=64, description="parallel requests to the site")
    obey_robots: bool = True


class Incremental(_Strict):
    # Stop paging when a whole listing page holds only ads already indexed.
    stop_on_known_page: bool = True


class Source(_Strict):
    name: str
    # html: Scrapy fetches, selectors read · browser: Chromium renders first (``browser:``) ·
    # feed: posts of a public channel or an RSS/Atom feed (``feed:``), each post an ad.
    kind: Literal["html", "browser", "feed"] = "html"
    enabled: bool = True
    description: str = ""
    start_urls: list[str] = Field(min_length=1)
    allowed_domains: list[str] = Field(default_factory=list)
    listing: ListingSelectors | None = None  # kinds html and browser
    fields: FieldSelectors | None = None  # kinds html and browser
    browser: BrowserOptions | None = None  # kind browser
    feed: FeedOptions | None = None  # kind feed
    ad_id_pattern: str | None = Field(None, description="regex with one group: the site's ad id in the URL")
    region: str | None = Field(None, description="phone region, ISO 3166 alpha-2 (default: ADWATCH_DEFAULT_REGION)")
    timezone: str = Field("Europe/Stockholm", description="zone of dates the site writes without offset")
    page: str | None = Field(None, description="dotted path of a page class in spiders.pages")
    politeness: Politeness = Field(default_factory=Politeness)
    incremental: Incremental = Field(default_factory=Incremental)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lowercase letters, digits or _, starting with a letter")
        return value

    @field_validator("start_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {url!r}")
        return value

    @field_validator("ad_id_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
        if compiled.groups != 1:
            raise ValueError("needs exactly one capture group (the ad id)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        import phonenumbers

        if value is None:
            return None
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r}")
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("page")
    @classmethod
    def _page(cls, value: str | None) -> str | None:
        # Imported here: the page classes import this module.
        from spiders.pages import PageClassError, ad_page_class

        try:
            ad_page_class(value)
        except PageClassError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _kind_blocks(self) -> Source:
        if self.kind == "feed":
            if self.feed is None:
                raise ValueError("kind feed needs a feed: block (format: channel or rss)")
            if self.listing is not None or self.fields is not None:
                raise ValueError("kind feed reads posts, not selectors: remove listing: and fields:")
        else:
            if self.listing is None or self.fields is None:
                raise ValueError(f"kind {self.kind} needs listing: and fields: (the selectors)")
            if self.feed is not None:
                raise ValueError("feed: belongs to kind feed")
        if self.browser is not None and self.kind != "browser":
            raise ValueError("browser: belongs to kind browser")
        if self.kind == "browser" and self.browser is None:
            object.__setattr__(self, "browser", BrowserOptions.model_validate({}))
        return self

    @model_validator(mode="after")
    def _domains(self) -> Source:
        if not self.allowed_domains:
            hosts = sorted({urlsplit(u).hostname or "" for u in self.start_urls})
            object.__setattr__(self, "allowed_domains", hosts)
        return self

    def rebased(self, base_url: str) -> Source:
        """The same source on another host (a mirror, or the demo site on a free port)."""
        base = urlsplit(check_base_url(base_url))
        assert base.hostname is not None
        urls = [urlunsplit((base.scheme, base.netloc, *urlsplit(u)[2:])) for u in self.start_urls]
        return self.model_copy(update={"start_urls": urls, "allowed_domains": [base.hostname]})


@dataclass(frozen=True)
class SourceProblem:
    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


def _problems(path: Path, exc: ValidationError) -> list[SourceProblem]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        reason = err["msg"].removeprefix("Value error, ")
        out.append(SourceProblem(str(path), where, reason))
    return out


def read_yaml(path: Path) -> tuple[Any, SourceProblem | None]:
    """A config file's YAML, or the one-line problem that stops it being read."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, SourceProblem(str(path), "(file)", "no such file")
    except (OSError, UnicodeDecodeError) as exc:
        return None, SourceProblem(str(path), "(file)", f"cannot read: {exc}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        return None, SourceProblem(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}")


def parse_source(path: Path) -> tuple[Source | None, list[SourceProblem]]:
    raw, problem = read_yaml(path)
    if problem is not None:
        return None, [problem]
    if not isinstance(raw, dict):
        return None, [SourceProblem(str(path), "(file)", "must be a mapping of fields")]
    raw.setdefault("name", path.stem)
    try:
        source = Source.model_validate(raw)
    except ValidationError as exc:
        return None, _problems(path, exc)
    if source.name != path.stem:
        return None, [SourceProblem(str(path), "name", f"must match the file name {path.stem!r}")]
    return source, []


def load_sources(folder: str | Path) -> tuple[dict[str, Source], list[SourceProblem]]:
    sources: dict[str, Source] = {}
    problems: list[SourceProblem] = []
    root = Path(folder)
    if not root.is_dir():
        return {}, [SourceProblem(str(root), "(folder)", "no such folder")]
    for path in sorted(root.glob("*.y*ml")):
        source, found = parse_source(path)
        problems.extend(found)
        if source is not None:
            sources[source.name] = source
    return sources, problems
