"""Spider loader: the spiders in SPIDER_MODULES plus one spider per source file.

So ``scrapy crawl annonsguiden`` and ``adwatch crawl annonsguiden`` run the same
spider. A broken source file is reported (file, field, reason) and skipped.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

from scrapy.settings import BaseSettings
from scrapy.spiderloader import SpiderLoader

from config.environment import with_environment
from config.source_schema import Source, load_sources
from spiders.classifieds import SourceSpider

logger = logging.getLogger(__name__)


# The spider class of each source kind; imported only when a source of that kind exists.
SPIDER_OF_KIND = {
    "html": "spiders.classifieds.SourceSpider",
    "browser": "spiders.browser.spider.BrowserSourceSpider",
    "feed": "spiders.feeds.FeedSourceSpider",
}


def _base_class(kind: str) -> type[SourceSpider]:
    module, _, name = SPIDER_OF_KIND[kind].rpartition(".")
    base = getattr(import_module(module), name)
    assert issubclass(base, SourceSpider)
    return base


def source_spider_class(source: Source) -> type[SourceSpider]:
    attrs: dict[str, Any] = {"name": source.name, "source": source, "__module__": __name__}
    base = _base_class(source.kind)
    cls: type[SourceSpider] = type(f"{source.name.title().replace('_', '')}Spider", (base,), attrs)
    cls.custom_settings = cls.politeness_settings()
    return cls


class SourceSpiderLoader(SpiderLoader):
    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        # `scrapy list` builds the loader without running the add-ons, so ADWATCH_SOURCES_DIR
        # from the environment is applied here too (same table, config/environment.py).
        sources, problems = load_sources(with_environment(settings).get("ADWATCH_SOURCES_DIR"))
        for problem in problems:
            logger.error("source skipped: %s", problem)
        for name, source in sources.items():
            if not source.enabled:
                continue
            if name in self._spiders:
                logger.error("source skipped: %s: name clashes with a spider class", name)
                continue
            self._spiders[name] = source_spider_class(source)
