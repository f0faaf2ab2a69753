"""The project's Scrapy settings, loadable from anywhere (no scrapy.cfg lookup needed)."""

from __future__ import annotations

from typing import Any

from scrapy.settings import Settings

# Set once per CLI invocation by options that apply to every command (``adwatch --store es …``).
_invocation: dict[str, Any] = {}


def override_for_this_run(name: str, value: Any) -> None:
    _invocation[name] = value


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    settings = Settings()
    settings.setmodule("config.settings", priority="project")
    for name, value in {**_invocation, **(overrides or {})}.items():
        if value is not None:
            settings.set(name, value, priority="cmdline")
    return settings
