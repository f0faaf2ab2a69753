"""The UI's words that are only known at run time, listed once so gettext can find them.

The templates translate some values with a variable, ``{{ _(c) }}``: an indicator category,
a role, a trend metric, an alert status, a sort order, a facet or menu label. The extractor
(``pybabel extract``, ``python -m adwatch.web.catalog``) only sees string literals inside
``_()``, so without this list those msgids would never reach the catalog and the Swedish UI
would show them in English. ``N_`` marks a string for extraction and returns it unchanged
(extract with ``-k N_``); nothing here is translated at import time, the templates do that
per request. ``tests/test_web_i18n.py`` checks that the lists below still match their sources.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for extraction; translate it later, where the language is known."""
    return message


# Indicator categories (nlp/indicators.py CATEGORIES), shown as tags and filters.
CATEGORIES = (
    N_("movement"),
    N_("youth"),
    N_("third_party"),
    N_("language_barrier"),
    N_("controlled_contact"),
    N_("risky_services"),
    N_("multiple_women"),
    N_("hotel"),
    N_("availability"),
    N_("nationality"),
)

# Account roles (adwatch/web/accounts.py), shown next to the user's name.
ROLES = (N_("analyst"), N_("admin"))

# What the trends page counts (trends.html "Metric").
TREND_METRICS = (N_("ads"), N_("new_ads"), N_("phones"), N_("new_phones"), N_("flagged"))

# What the trends page groups by (trends.html "by") and its column heading.
TREND_GROUPS = (N_("town"), N_("county"))

# The period of one trends column (trends.html "per").
TREND_INTERVALS = (N_("day"), N_("week"), N_("month"))

# The alert list's status filter (alerts.html).
ALERT_STATUSES = (N_("open"), N_("acknowledged"), N_("all"))

# The search page's sort orders (search.html).
SORT_ORDERS = (N_("Best first"), N_("Newest"), N_("Highest score"), N_("Relevance"))

# The search page's facet headings (search.html).
FACETS = (N_("Towns"), N_("Counties"), N_("Sources"), N_("Languages"), N_("Categories"))

# The main menu (adwatch/web/pages.py NAV).
MENU = (N_("Search"), N_("Map"), N_("Trends"), N_("Alerts"), N_("Saved searches"))

# An archived record's kind (adwatch/evidence/refs.py) and its check (adwatch/evidence/verify.py), ad.html.
RECORD_TYPES = (N_("response"), N_("request"), N_("resource"), N_("screenshot"))
RECORD_CHECKS = (N_("ok"), N_("changed"), N_("missing"))

DYNAMIC: tuple[str, ...] = (CATEGORIES + ROLES + TREND_METRICS + TREND_GROUPS + TREND_INTERVALS + ALERT_STATUSES
                            + SORT_ORDERS + FACETS + MENU + RECORD_TYPES + RECORD_CHECKS)
