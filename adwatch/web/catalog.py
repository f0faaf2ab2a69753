"""Refresh and check the web UI's gettext catalogs (no Makefile needed).

    python -m adwatch.web.catalog           extract the msgids of adwatch/web (babel.cfg) into
                                            adwatch/web/locale/messages.pot and merge them into
                                            every locale/<lang>/LC_MESSAGES/messages.po: new
                                            entries come in empty, changed ones fuzzy; translate
                                            them, then remove the fuzzy flags
    python -m adwatch.web.catalog --check   write nothing; exit 1 and list the problems when a
                                            .po lacks a msgid the sources use, leaves one
                                            untranslated or fuzzy, or changes its placeholders

The refresh is Babel's own command line, run from the repository root:
``pybabel extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 -o adwatch/web/locale/messages.pot .``
then ``pybabel update`` (``init`` for a language without a catalog). English is the source
language and has no catalog (``i18n.py``); ``tests/test_web_i18n.py`` runs the check.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE = Path(__file__).resolve().parent / "locale"
TEMPLATE = LOCALE / "messages.pot"
MAPPING = ROOT / "babel.cfg"
LANGUAGES = ("sv",)  # every language but the source language (English)
# Python code calls i18n.gettext/ngettext (Babel's default keywords match the name after the
# dot); words.py marks the msgids only known at run time with N_.
KEYWORDS = ("N_", "_", "gettext", "ngettext:1,2")
WIDTH = "100"
HEADER = ("# The msgids of adwatch's web UI (English), extracted from adwatch/web by babel.cfg.\n"
          "# Written by python -m adwatch.web.catalog; translate in <lang>/LC_MESSAGES/messages.po.\n#")
# A placeholder the code fills in: %(name)s (gettext, Jinja's newstyle gettext) or {name} (str.format).
_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|\{(\w+)\}")


def placeholders(text: str) -> set[str]:
    """The names of the placeholders in ``text``."""
    return {a or b for a, b in _PLACEHOLDER.findall(text)}


def po_path(lang: str, locale: Path = LOCALE) -> Path:
    return locale / lang / "LC_MESSAGES" / "messages.po"


def extract() -> Catalog:
    """The msgids the sources use now, as a template catalog (in memory, nothing written)."""
    with MAPPING.open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, filename=str(MAPPING))
    keywords = dict(DEFAULT_KEYWORDS) | {"N_": None, "ngettext": (1, 2)}
    template = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def read(lang: str, locale: Path = LOCALE) -> Catalog:
    with po_path(lang, locale).open("rb") as po:
        return read_po(po, locale=lang)


def _msgid(message: Message) -> str:
    return message.id if isinstance(message.id, str) else str(message.id[0])


def entry_problems(message: Message) -> list[str]:
    """What is wrong with one translated entry: fuzzy, untranslated, placeholders not the source's."""
    name = repr(_msgid(message))
    if message.fuzzy:
        return [f"{name} is fuzzy: check the translation, then remove the fuzzy flag"]
    ids = [message.id] if isinstance(message.id, str) else [str(i) for i in message.id]
    strings = [message.string] if isinstance(message.string, str) else [str(s) for s in message.string or ()]
    if not strings or not all(s.strip() for s in strings):
        return [f"{name} is not translated"]
    found = []
    for form, text in enumerate(strings):
        # Plural form 0 is the singular (n == 1), every other form is plural; each keeps the
        # placeholders of its source exactly: one dropped or renamed is a wrong or broken page.
        source = ids[min(form, len(ids) - 1)]
        if placeholders(text) != placeholders(source):
            found.append(f"{name}: {text!r} has placeholders {sorted(placeholders(text))}, "
                         f"the source {sorted(placeholders(source))}")
    return found


def missing(catalog: Catalog, template: Catalog) -> list[str]:
    """Every reason ``catalog`` does not cover the msgids of ``template`` (empty: it does)."""
    found: list[str] = []
    for source in template:
        if not source.id:
            continue
        message = catalog.get(source.id, source.context)
        if message is None:
            where = ", ".join(f"{f}:{n}" for f, n in source.locations[:3])
            found.append(f"{_msgid(source)!r} is missing ({where}): run python -m adwatch.web.catalog")
        elif message.id != source.id:
            found.append(f"{_msgid(source)!r}: its plural form changed: run python -m adwatch.web.catalog")
        else:
            found.extend(entry_problems(message))
    return found


def problems(lang: str, template: Catalog | None = None, locale: Path = LOCALE) -> list[str]:
    """Every reason the ``lang`` catalog under ``locale`` does not cover the current sources."""
    if not po_path(lang, locale).is_file():
        return [f"{lang}: {po_path(lang, locale)} is missing: run python -m adwatch.web.catalog"]
    found = missing(read(lang, locale), template if template is not None else extract())
    return [f"{lang}: {p}" for p in found]


def _pybabel(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", *args], cwd=ROOT, check=True)


def refresh() -> None:
    """Extract the template and merge it into each language's .po (Babel's extract, update or init)."""
    keywords = [arg for keyword in KEYWORDS for arg in ("-k", keyword)]
    template = str(TEMPLATE.relative_to(ROOT))
    _pybabel("extract", "-F", "babel.cfg", *keywords, "--project", "adwatch", "--width", WIDTH,
             "--header-comment", HEADER, "-o", template, ".")
    for lang in LANGUAGES:
        if po_path(lang).is_file():
            # Old entries are dropped, not kept as #~ comments: fuzzy matching has used them already.
            _pybabel("update", "-i", template, "-d", str(LOCALE.relative_to(ROOT)), "-l", lang, "--width", WIDTH,
                     "--ignore-obsolete")
        else:
            _pybabel("init", "-i", template, "-d", str(LOCALE.relative_to(ROOT)), "-l", lang, "--width", WIDTH)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adwatch.web.catalog",
                                     description="Refresh (default) or check the web UI's gettext catalogs.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a catalog is incomplete")
    parser.add_argument("--locale", type=Path, default=LOCALE,
                        help="with --check: the folder of <lang>/LC_MESSAGES/messages.po to check (default: the UI's)")
    args = parser.parse_args(argv)
    if not args.check:
        if args.locale.resolve() != LOCALE:
            parser.error("--locale only goes with --check: the refresh writes the UI's own catalogs")
        refresh()
    template = extract()
    found = [p for lang in LANGUAGES for p in problems(lang, template, args.locale)]
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        print(f"{len(found)} problem(s): translate them in {args.locale}/<lang>/LC_MESSAGES/messages.po",
              file=sys.stderr)
        return 1
    print(f"catalogs complete: {len(template)} messages in {', '.join(LANGUAGES)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
