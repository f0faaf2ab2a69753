"""Page modules: a response → field values, one method per field.

``SelectorAdPage`` reads the selectors of a source file; a site that needs code
instead gets a module here with a subclass, named in its source file as ``page:``.
"""

from __future__ import annotations

import re
from importlib import import_module

from spiders.pages.selectors import ListingPage, SelectorAdPage

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


class PageClassError(ValueError):
    """A source's ``page:`` names no usable page class (the reason is one line)."""


def ad_page_class(dotted: str | None) -> type[SelectorAdPage]:
    """The page class ``page:`` names (``module.Class`` under ``spiders.pages``), or
    PageClassError saying why not: the source check and the spider ask the same question."""
    if not dotted:
        return SelectorAdPage
    if not _DOTTED.match(dotted):
        raise PageClassError(f"{dotted!r} is not a dotted name like 'mysite.MySiteAdPage'")
    module_name, _, class_name = dotted.rpartition(".")
    try:
        module = import_module(f"spiders.pages.{module_name}")
    except ModuleNotFoundError as exc:
        raise PageClassError(f"no page module spiders.pages.{module_name} ({exc.name} not found)") from None
    except Exception as exc:  # the module itself is broken: its error, in one line
        raise PageClassError(f"page module spiders.pages.{module_name} does not import: "
                             f"{type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise PageClassError(f"spiders.pages.{module_name} has no {class_name}")
    if not (isinstance(cls, type) and issubclass(cls, SelectorAdPage)):
        raise PageClassError(f"{dotted} is not a page class (a subclass of SelectorAdPage)")
    return cls


__all__ = ["ListingPage", "PageClassError", "SelectorAdPage", "ad_page_class"]
