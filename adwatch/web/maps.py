"""The map pages' SVG: towns sized by a count, a number's route, the roads (``mapsvg.py`` draws)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from adwatch.web import i18n
from adwatch.web.config import WebConfig
from adwatch.web.views import PhoneView, TownCount


def _labels(metric: str) -> Any:
    from adwatch.web.mapsvg import MapLabels

    unit = i18n.gettext("ads") if metric == "ads" else i18n.gettext("new numbers")
    return MapLabels(town_tooltip="{name}: {value} " + unit, legend_value="{value} " + unit,
                     roads=i18n.gettext("European routes"), route=i18n.gettext("Route"),
                     neighbours=i18n.gettext("Neighbouring countries"), default_title=i18n.gettext("Map"),
                     summary=i18n.gettext("{count} towns on the map; largest: {top}."),
                     empty=i18n.gettext("No towns to show."))


def _roads(config: WebConfig) -> Any:
    from geo.highways import roads

    return roads(config.highways)


def towns_svg(config: WebConfig, towns: list[TownCount], metric: str, days: int) -> Markup:
    """Markup: ``mapsvg`` escapes every name and label it writes (tests/test_mapsvg.py)."""
    from adwatch.web.mapsvg import TownMark, render_map

    unit = i18n.gettext("ads") if metric == "ads" else i18n.gettext("new numbers")
    title = i18n.gettext("Towns by %(unit)s, last %(days)s days") % {"unit": unit, "days": days}
    marks = [TownMark(t.town, t.lat, t.lon, t.value) for t in towns]
    return Markup(render_map(marks, _roads(config), None, title=title, labels=_labels(metric), home=config.region,
                             locale=i18n.language()))


def phone_route_svg(config: WebConfig, view: PhoneView) -> Markup:
    from adwatch.web.mapsvg import RouteStop, TownMark, bounds_around, render_map

    stops = [s for s in view.stops if s.lat is not None and s.lon is not None]
    route = [RouteStop(float(s.lat), float(s.lon), s.town, s.first[:10]) for s in stops]  # type: ignore[arg-type]
    counts: dict[str, TownMark] = {}
    for s in stops:
        mark = counts.get(s.town)
        counts[s.town] = TownMark(s.town, float(s.lat), float(s.lon),  # type: ignore[arg-type]
                                  (mark.value if mark else 0) + s.ads)
    title = i18n.gettext("Route of %(number)s") % {"number": view.e164}
    bounds = bounds_around([(r.lat, r.lon) for r in route]) if route else None
    return Markup(render_map(list(counts.values()), _roads(config), route, title=title, labels=_labels("ads"),
                             home=config.region, locale=i18n.language(), bounds=bounds))
