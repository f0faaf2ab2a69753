"""The UI's languages: Swedish and English, from gettext catalogs (Babel).

The catalogs are ``locale/<lang>/LC_MESSAGES/messages.po``, compiled in memory when the
server starts (no build step, no .mo files to forget). English is the source language. The
analyst's own choice (a per-user setting) wins; otherwise the browser's Accept-Language.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from gettext import NullTranslations
from pathlib import Path

LANGUAGES = {"sv": "Svenska", "en": "English"}
DEFAULT = "en"
_LOCALE = Path(__file__).parent / "locale"
_current: ContextVar[str] = ContextVar("adwatch_web_lang", default=DEFAULT)


@cache
def translations(lang: str) -> NullTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    path = _LOCALE / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not path.is_file():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def set_language(lang: str) -> None:
    _current.set(lang if lang in LANGUAGES else DEFAULT)


def language() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def negotiate(accept_language: str | None) -> str:
    """The first of the browser's languages we have (q-values honoured), else English."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        wanted.append((-quality, position, tag.strip().lower().split("-")[0]))
    for _, _, tag in sorted(wanted):
        if tag in LANGUAGES:
            return tag
    return DEFAULT
