"""Synthetic classifieds site used as the project's offline test bed.

``DemoSite`` is imported lazily so ``python -m adwatch.demo.server`` does not
import its own module twice (runpy warns about that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adwatch.demo.generator import DemoAd, generate_ads

if TYPE_CHECKING:
    from adwatch.demo.server import DemoSite

__all__ = ["DemoAd", "DemoSite", "generate_ads"]


def __getattr__(name: str) -> object:
    if name == "DemoSite":
        from adwatch.demo.server import DemoSite

        return DemoSite
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
