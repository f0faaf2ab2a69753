"""The project's Scrapy settings, loadable from anywhere (no scrapy.cfg lookup needed).

Declared defaults (``config/settings.py``), then the ADWATCH_* environment variables
(``config/environment.py``), then what this invocation says (``--store``, ``--set``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.settings import Settings

from config.environment import apply_environment

if TYPE_CHECKING:
    from index.open import StoreConfig

# Set once per CLI invocation by options that apply to every command (``adwatch --store es …``).
_invocation: dict[str, Any] = {}


def override_for_this_run(name: str, value: Any) -> None:
    _invocation[name] = value


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Raises config.environment.SettingError (one line) when a variable has a bad value."""
    settings = Settings()
    settings.setmodule("config.settings", priority="project")
    apply_environment(settings)
    for name, value in {**_invocation, **(overrides or {})}.items():
        if value is not None:
            settings.set(name, value, priority="cmdline")
    return settings


def load_store_config() -> StoreConfig:
    """Where this invocation's store is, typed (index.open.StoreConfig)."""
    from index.open import store_config

    return store_config(load_settings())
