"""The objects loaded before the spider opens are frozen out of the collector's passes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from scrapy import Spider
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from adwatch.crawl_gc import FreezeLoadedData


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def test_opening_the_spider_freezes_what_is_loaded(unfrozen: None) -> None:
    crawler = get_crawler(Spider, {"ADWATCH_GC_FREEZE": True})
    extension = FreezeLoadedData.from_crawler(crawler)
    assert gc.get_freeze_count() == 0
    extension.spider_opened(Spider(name="x"))
    assert gc.get_freeze_count() > 1000


def test_it_can_be_turned_off(unfrozen: None) -> None:
    with pytest.raises(NotConfigured):
        FreezeLoadedData.from_crawler(get_crawler(Spider, {"ADWATCH_GC_FREEZE": False}))
