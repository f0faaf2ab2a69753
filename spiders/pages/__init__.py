"""Page modules: a response → field values, one method per field.

``SelectorAdPage`` reads the selectors of a source file; a site that needs code
instead gets a module here with a subclass, named in its source file as ``page:``.
"""

from __future__ import annotations

from importlib import import_module

from spiders.pages.selectors import ListingPage, SelectorAdPage


def ad_page_class(dotted: str | None) -> type[SelectorAdPage]:
    if not dotted:
        return SelectorAdPage
    module_name, _, class_name = dotted.rpartition(".")
    cls = getattr(import_module(f"spiders.pages.{module_name}"), class_name)
    if not (isinstance(cls, type) and issubclass(cls, SelectorAdPage)):
        raise TypeError(f"{dotted} is not a SelectorAdPage subclass")
    return cls


__all__ = ["ListingPage", "SelectorAdPage", "ad_page_class"]
