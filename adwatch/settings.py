"""The project's Scrapy settings, loadable from anywhere (no scrapy.cfg lookup needed)."""

from __future__ import annotations

from typing import Any

from scrapy.settings import Settings


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    settings = Settings()
    settings.setmodule("config.settings", priority="project")
    for name, value in (overrides or {}).items():
        if value is not None:
            settings.set(name, value, priority="cmdline")
    return settings
