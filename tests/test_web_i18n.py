"""The UI in Swedish and English: the catalog covers every msgid of the pages and the code,
translations keep their placeholders, the compiled catalog loads, pages render in the
chosen language, and the browser's language is the default (``adwatch/web/i18n.py``,
``adwatch/web/catalog.py``, ``adwatch/web/words.py``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from jinja2 import nodes

from adwatch.web import app, catalog, i18n, words

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "adwatch" / "web" / "templates"


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    """The language is a context variable of this thread: leave it as the next test expects."""
    yield
    i18n.set_language(i18n.DEFAULT)


@pytest.fixture(scope="module")
def template() -> Catalog:
    return catalog.extract()


@pytest.fixture
def swedish() -> Catalog:
    return catalog.read("sv")


# --- the catalog is complete ---------------------------------------------------------------
def test_check_passes_on_the_shipped_catalog() -> None:
    done = subprocess.run([sys.executable, "-m", "adwatch.web.catalog", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "catalogs complete" in done.stderr


def test_every_msgid_of_the_sources_is_translated(template: Catalog) -> None:
    assert catalog.problems("sv", template) == []
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    # Each kind of source reaches the template: templates, Python code, the run-time words.
    assert {"Log in", "Saved searches", "%(num)s ad"} <= ids  # templates (ngettext too)
    assert {"Wrong user name or password.", "European routes"} <= ids  # pages.py, maps.py
    assert set(words.DYNAMIC) <= ids  # words.py, through -k N_


def test_check_fails_on_a_missing_untranslated_or_fuzzy_entry(tmp_path: Path) -> None:
    locale = tmp_path / "locale"
    shutil.copytree(catalog.LOCALE, locale)
    po = catalog.po_path("sv", locale)
    broken = catalog.read("sv", locale)
    broken.delete("Saved searches")
    broken["Acknowledge"].string = ""
    broken["Audit log"].flags.add("fuzzy")
    with po.open("wb") as out:
        write_po(out, broken)
    done = subprocess.run([sys.executable, "-m", "adwatch.web.catalog", "--check", "--locale", str(locale)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "'Saved searches' is missing" in done.stderr
    assert "'Acknowledge' is not translated" in done.stderr
    assert "'Audit log' is fuzzy" in done.stderr
    assert "problem(s)" in done.stderr
    po.unlink()
    gone = subprocess.run([sys.executable, "-m", "adwatch.web.catalog", "--check", "--locale", str(locale)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert gone.returncode == 1 and "is missing: run python -m adwatch.web.catalog" in gone.stderr


def test_a_new_msgid_in_the_sources_is_reported(template: Catalog, swedish: Catalog) -> None:
    grown = Catalog()
    for message in template:
        if message.id:
            grown.add(message.id, None, message.locations)
    grown.add("A sentence nobody has translated yet", None, [("adwatch/web/templates/x.html", 1)])
    found = set(catalog.missing(swedish, grown)) - set(catalog.missing(swedish, template))
    assert found == {"'A sentence nobody has translated yet' is missing (adwatch/web/templates/x.html:1): "
                     "run python -m adwatch.web.catalog"}


# --- placeholders ------------------------------------------------------------------------------
@pytest.mark.parametrize(("msgid", "wrong"), [
    ("Page %(page)s of %(pages)s", "Sida %(page)s"),  # dropped
    ("Page %(page)s of %(pages)s", "Sida %(sida)s av %(pages)s"),  # renamed
    ("this is version %(n)s", "detta är version %(num)s"),
    ("{count} towns on the map; largest: {top}.", "{antal} orter på kartan; störst: {top}."),  # str.format
    ("Towns by %(unit)s, last %(days)s days", "Orter efter %(unit)s"),
])
def test_a_translation_that_changes_placeholders_fails(swedish: Catalog, msgid: str, wrong: str) -> None:
    assert catalog.entry_problems(swedish[msgid]) == []
    swedish[msgid].string = wrong
    found = catalog.entry_problems(swedish[msgid])
    assert len(found) == 1 and "placeholders" in found[0]


def test_a_plural_form_that_drops_the_count_fails(swedish: Catalog) -> None:
    message = swedish["%(num)s ad"]
    assert message.string == ("%(num)s annons", "%(num)s annonser")
    message.string = ("%(num)s annons", "annonser")
    assert "placeholders" in catalog.entry_problems(message)[0]
    message.string = ("%(num)s annons", "")
    assert catalog.entry_problems(message) == ["'%(num)s ad' is not translated"]


def test_placeholders_match_in_every_shipped_translation(swedish: Catalog) -> None:
    checked = 0
    for message in swedish:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string or ())
        for form, text in enumerate(strings):
            source = ids[min(form, len(ids) - 1)]
            names = catalog.placeholders(source)
            assert catalog.placeholders(text) == names, (message.id, text)
            values = dict.fromkeys(names, 7)
            # Jinja's newstyle gettext applies % to every string, with or without variables:
            # a stray "%" in a translation would break the page, so every one must survive it.
            formatted = text % values
            assert names or formatted == text.replace("%%", "%")
            if "{" in source:
                assert text.format(**values)
            checked += 1
    assert checked > 150


# --- the compiled catalog ------------------------------------------------------------------------
def test_compiled_catalog_loads() -> None:
    i18n.translations.cache_clear()
    swedish = i18n.translations("sv")
    assert type(swedish).__name__ == "Translations"
    assert swedish.gettext("Search") == "Sök"
    assert swedish.gettext("Saved searches") == "Sparade sökningar"
    assert swedish.gettext("Acknowledge") == "Kvittera"
    assert swedish.gettext("new numbers") == "nya nummer"
    assert swedish.gettext("language_barrier") == "språkbarriär"
    assert swedish.ngettext("%(num)s ad", "%(num)s ads", 1) == "%(num)s annons"
    assert swedish.ngettext("%(num)s ad", "%(num)s ads", 2) == "%(num)s annonser"
    assert swedish.ngettext("%(num)s ad", "%(num)s ads", 0) == "%(num)s annonser"
    assert i18n.translations("en").gettext("Search") == "Search"
    i18n.set_language("sv")
    assert i18n.gettext("Audit log") == "Granskningslogg"
    i18n.set_language("xx")  # unknown: the source language
    assert i18n.gettext("Audit log") == "Audit log"


def test_every_category_has_a_swedish_name() -> None:
    from nlp.indicators import CATEGORIES

    i18n.set_language("sv")
    names = {c: i18n.gettext(c) for c in CATEGORIES}
    assert names["movement"] == "rörlighet" and names["third_party"] == "tredje part"
    assert all(name != c and "_" not in name for c, name in names.items()), names


# --- words known only at run time -------------------------------------------------------------
def test_words_match_their_sources() -> None:
    from adwatch.web.accounts import ROLES
    from adwatch.web.pages import NAV
    from nlp.indicators import CATEGORIES

    assert words.CATEGORIES == CATEGORIES
    assert words.ROLES == ROLES
    assert words.MENU == tuple(label for _href, label in NAV)


def _loop_words(source: str) -> set[str]:
    """The string literals a template's loops translate with a variable: ``{% for a, b in
    (("x", "X"), …) %}…{{ _(b) }}`` gives {"X"}."""
    env = app.templates()
    found: set[str] = set()
    for loop in env.parse(source).find_all(nodes.For):
        targets = [loop.target.name] if isinstance(loop.target, nodes.Name) else [
            t.name for t in loop.target.items if isinstance(t, nodes.Name)]  # type: ignore[attr-defined]
        if not isinstance(loop.iter, (nodes.Tuple, nodes.List)):
            continue
        for call in loop.find_all(nodes.Call):
            if not (isinstance(call.node, nodes.Name) and call.node.name in ("_", "gettext") and call.args
                    and isinstance(call.args[0], nodes.Name) and call.args[0].name in targets):
                continue
            position = targets.index(call.args[0].name)
            for item in loop.iter.items:
                value: Any = item.items[position] if isinstance(item, nodes.Tuple) else item
                if isinstance(value, nodes.Const) and isinstance(value.value, str):
                    found.add(value.value)
    return found


def test_every_word_a_template_translates_by_variable_is_listed() -> None:
    seen: dict[str, set[str]] = {}
    for path in sorted(TEMPLATES.glob("*.html")):
        found = _loop_words(path.read_text(encoding="utf-8"))
        if found:
            seen[path.name] = found
    # The finder finds them (alert statuses, sort orders, facet headings, trend controls).
    assert {"open", "acknowledged", "all", "Best first", "Towns", "Categories", "new_phones", "county",
            "month"} <= set().union(*seen.values())
    missing = {name: found - set(words.DYNAMIC) for name, found in seen.items() if found - set(words.DYNAMIC)}
    assert not missing, f"add these to adwatch/web/words.py: {missing}"


# --- pages in each language ----------------------------------------------------------------------
LOGIN = {"request": None, "who": None, "languages": i18n.LANGUAGES, "nav": (), "path": "/login", "csrf": None,
         "next": "/search", "login_csrf": "x", "error": None}


def _render(name: str, lang: str, **values: Any) -> str:
    i18n.set_language(lang)
    return app.templates().get_template(name).render(lang=i18n.language(), **values)


def test_login_page_in_swedish_and_english() -> None:
    swedish = _render("login.html", "sv", **LOGIN)
    assert '<html lang="sv">' in swedish
    assert "<title>Logga in · adwatch</title>" in swedish
    assert ">Användarnamn</label>" in swedish and ">Lösenord</label>" in swedish
    assert "Hoppa till innehållet" in swedish and "Varje visning loggas." in swedish
    assert "Log in" not in swedish and "Password" not in swedish
    english = _render("login.html", "en", **LOGIN)
    assert '<html lang="en">' in english
    assert ">User name</label>" in english and ">Password</label>" in english and "Every look is logged." in english
    assert "Logga in" not in english


def _analyst() -> Any:
    from adwatch.web.auth import Principal

    return Principal(name="ana", role="analyst", via="session", csrf="c")


def test_search_page_menu_role_and_categories_in_swedish() -> None:
    from adwatch.web.pages import NAV
    from nlp.indicators import CATEGORIES

    values = {"request": None, "who": _analyst(), "languages": i18n.LANGUAGES, "nav": NAV, "path": "/search",
              "csrf": "c", "form": {}, "filters": {"sources": ["site_a"], "kinds": ["html"], "categories": CATEGORIES},
              "error": None, "result": None}
    swedish = _render("search.html", "sv", **values)
    for text in ("Sparade sökningar", ">Karta<", ">Larm<", "ana (analytiker)", "Logga ut", "Bästa först",
                 "Högst poäng", "språkbarriär", "riskfyllda tjänster", "Indikatorkategorier", "Lägsta poäng"):
        assert text in swedish, text
    assert "Saved searches" not in swedish and "language_barrier<" not in swedish
    english = _render("search.html", "en", **values)
    for text in ("Saved searches", "ana (analyst)", "Best first", "> language_barrier</label>"):
        assert text in english, text


def test_plural_and_placeholders_render_in_swedish() -> None:
    phone = SimpleNamespace(e164="+46701740605", record=None, total=3, sources={"site_a": 3}, other_numbers={},
                            handles={}, ads=[],
                            stops=[SimpleNamespace(town="Gävle", first="2026-11-01T10:00:00Z", last="2026-11-02T10:00Z",
                                                   ads=1, road="E4", road_km=2.5),
                                   SimpleNamespace(town="Sundsvall", first="2026-11-03T10:00:00Z",
                                                   last="2026-11-03T10:00:00Z", ads=2, road=None, road_km=None)])
    values = {"request": None, "who": _analyst(), "languages": i18n.LANGUAGES, "nav": (), "path": "/phones/x",
              "csrf": "c", "view": phone, "svg": ""}
    swedish = _render("phone.html", "sv", **values)
    assert "1 annons ·" in swedish and "2 annonser" in swedish and "närmaste väg E4" in swedish
    assert "Numrets färdväg" in swedish and "Tidslinje" in swedish
    english = _render("phone.html", "en", **values)
    assert "1 ad ·" in english and "2 ads" in english and "nearest road E4" in english


def test_trends_words_in_swedish() -> None:
    values = {"request": None, "who": _analyst(), "languages": i18n.LANGUAGES, "nav": (), "path": "/trends",
              "csrf": "c", "form": {"metric": "new_phones", "by": "county", "interval": "week", "since": "30d",
                                    "top": "10"},
              "trend": SimpleNamespace(series=[], periods=[], risers=[])}
    swedish = _render("trends.html", "sv", **values)
    for text in ("Mått", "nya nummer", "fördelat på", ">län<", ">vecka<", "Inga data för de här inställningarna."):
        assert text in swedish, text


# --- the browser's language, the analyst's choice ------------------------------------------------
@pytest.mark.parametrize(("header", "lang"), [
    ("sv-SE,sv;q=0.9,en;q=0.8", "sv"),
    ("de-DE", "en"),
    ("de-DE,de;q=0.9,sv;q=0.5", "sv"),
    ("en-GB,en;q=0.9,sv;q=0.8", "en"),
    ("en;q=0.5,sv;q=0.9", "sv"),
    ("", "en"),
    (None, "en"),
    ("sv;q=nonsense,en", "en"),
])
def test_negotiate(header: str | None, lang: str) -> None:
    assert i18n.negotiate(header) == lang


def test_server_speaks_the_browsers_language_until_the_analyst_picks(tmp_path: Path) -> None:
    """A real ``adwatch serve``: the login page follows Accept-Language; the analyst's setting wins."""
    import secrets

    from tests.conftest import html_schedule, html_sources_dir
    from tests.web_env import WebWorld, _server, world_env

    home = tmp_path / "home"
    home.mkdir()
    world = WebWorld(url="", home=home, env=world_env(home, "sqlite", html_sources_dir(), html_schedule(), {}))
    password = secrets.token_urlsafe(16)
    world.run("users", "add", "ana", "--role", "analyst", "--password-stdin", stdin=password + "\n")
    world.users["ana"] = ("analyst", password)
    with _server(world):
        with world.client(headers={"accept-language": "sv-SE,sv;q=0.9,en;q=0.8"}) as browser:
            page = browser.get("/login")
            assert page.status_code == 200 and '<html lang="sv">' in page.text and "Användarnamn" in page.text
        with world.client(headers={"accept-language": "de-DE"}) as browser:
            page = browser.get("/login")
            assert '<html lang="en">' in page.text and "User name" in page.text
        analyst = world.login("ana")
        analyst.headers["accept-language"] = "en-GB"
        assert "Saved searches" in analyst.get("/settings").text
        settings = analyst.get("/settings").text
        csrf = settings.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert analyst.post("/settings", data={"csrf": csrf, "lang": "sv"}).status_code == 303
        chosen = analyst.get("/settings").text
        assert '<html lang="sv">' in chosen and "Inställningar" in chosen and "Sparade sökningar" in chosen
