"""A downloader middleware that keeps the text of pages nested too deep to parse.

libxml2 (under lxml, parsel and Scrapy's selectors) stops building the tree at a depth of
about 2,048 elements and drops everything below, so a hostile page can hide an ad's text
and number inside a few thousand ``<div>``s. A page that could be that deep (it has that
many tags) is measured; if it is, the tags below ``KEEP_DEPTH`` are removed and their text
stays in the element at that depth. Counted as ``adwatch/spider/deep_nesting_flattened``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse, Request, Response
from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

PARSER_DEPTH = 2048  # libxml2's limit without XML_PARSE_HUGE for the tree depth
TOO_DEEP = 1500  # a page nested deeper is flattened (margin for what the count below misses)
KEEP_DEPTH = 1000  # tags below this depth are removed, their text kept
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)\b[^>]*?(/?)>")
# Elements without content or end tag: they never deepen the tree.
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())


def depth_of(html: str) -> int:
    """The deepest nesting of the tags as written (unclosed tags count as open: an upper bound)."""
    depth = deepest = 0
    for match in _TAG.finditer(html):
        closing, name, self_closing = match.groups()
        if name.lower() in _VOID or self_closing:
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def flatten(html: str, keep: int = KEEP_DEPTH) -> str:
    """``html`` without the tags nested deeper than ``keep``; all of its text."""
    parts: list[str] = []
    depth = last = 0
    for match in _TAG.finditer(html):
        closing, name, self_closing = match.groups()
        parts.append(html[last : match.start()])
        last = match.end()
        if name.lower() in _VOID or self_closing:
            inside = depth
        elif closing:
            inside = depth
            depth = max(0, depth - 1)
        else:
            depth += 1
            inside = depth
        if inside <= keep:
            parts.append(match.group(0))
        else:
            parts.append(" ")  # a removed tag still separates words
    parts.append(html[last:])
    return "".join(parts)


class DeepNestingMiddleware:
    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DeepNestingMiddleware:
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_response(self, request: Request, response: Response) -> Any:
        # Cheap first: a page with fewer tags than the limit cannot be nested that deep.
        if not isinstance(response, HtmlResponse) or response.body.count(b"<") < TOO_DEEP:
            return response
        text = response.text
        depth = depth_of(text)
        if depth < TOO_DEEP:
            return response
        self.stats.inc_value("adwatch/spider/deep_nesting_flattened")
        logger.warning("%s: tags nested %d deep (the parser keeps %d); the deeper tags were removed, their "
                       "text kept", response.url, depth, PARSER_DEPTH)
        return response.replace(body=flatten(text).encode("utf-8"), encoding="utf-8")
