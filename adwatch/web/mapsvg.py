"""The offline map as server-rendered SVG: land, roads, towns sized by a count, a route.

Pure functions (no I/O but reading the vendored basemap once): same input, same bytes.
The SVG is built with ElementTree, so every town name, label and title that reaches it is
escaped by the serializer; text is also stripped of what XML 1.0 cannot carry (control
characters, lone surrogates) and of bidi overrides that could make a label read backwards.
It has no script and no ``style`` (neither attributes nor elements): colours are SVG
presentation attributes, which a Content-Security-Policy of ``style-src 'self'`` allows;
classes let the site's own stylesheet restyle it.

Projection: equirectangular with longitude scaled by cos(middle latitude) — at Sweden's
latitudes shapes and distances within the map are within a few per cent of true, and it
keeps the maths here to one line each way.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from geo.gazetteer import gazetteer
from geo.highways import Road

BASEMAP = Path(__file__).resolve().parent / "basemap" / "nordic.geojson"
SVG_NS = "http://www.w3.org/2000/svg"
LonLat = tuple[float, float]

# Colours: the home country lighter than its neighbours; text dark on light (WCAG AA contrast).
SEA = "#d6e6f2"
HOME_FILL = "#fbf9f3"
NEIGHBOUR_FILL = "#e1ded6"
BORDER = "#8c8c8c"
ROAD = "#2e7d32"  # European-route signs are green in Sweden
TOWN_FILL = "#c2185b"
TOWN_STROKE = "#6d0c33"
ROUTE = "#1a3a8f"
TEXT = "#1b1b1b"
FONT = "system-ui, sans-serif"


@dataclass(frozen=True)
class TownMark:
    """A town drawn as a circle whose area is proportional to ``value`` (ads, new numbers)."""

    name: str
    lat: float
    lon: float
    value: float
    label: str | None = None  # tooltip and accessible name; default MapLabels.town_tooltip


@dataclass(frozen=True)
class RouteStop:
    """A stop of a route (a number's towns in date order); drawn numbered, in the given order."""

    lat: float
    lon: float
    label: str
    date: str = ""


@dataclass(frozen=True)
class Bounds:
    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        values = (self.west, self.south, self.east, self.north)
        if not all(math.isfinite(v) for v in values) or self.west >= self.east or self.south >= self.north:
            raise ValueError(f"not a bounding box (west, south, east, north): {values}")

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


@dataclass(frozen=True)
class MapLabels:
    """Every word the map shows, so the caller can pass them translated (gettext).

    ``town_tooltip`` and ``legend_value`` are ``str.format`` templates with ``{name}`` and
    ``{value}``; the values put into them are escaped like all other text."""

    town_tooltip: str = "{name}: {value} ads"
    legend_value: str = "{value} ads"
    roads: str = "European routes"
    route: str = "Route"
    home: str | None = None  # the home country's name; default the basemap's (English) name
    neighbours: str = "Neighbouring countries"
    default_title: str = "Map"
    summary: str = "{count} towns on the map; largest: {top}."
    empty: str = "No towns to show."


@dataclass(frozen=True)
class Country:
    name: str
    iso_a2: str | None
    iso_n3: str
    polygons: tuple[tuple[tuple[LonLat, ...], ...], ...]  # exterior ring first, then holes


@dataclass(frozen=True)
class Basemap:
    countries: tuple[Country, ...]
    bounds: Bounds
    path: str = field(default="", compare=False)

    def country(self, iso_a2: str) -> Country | None:
        return next((c for c in self.countries if (c.iso_a2 or "").upper() == iso_a2.upper()), None)


@lru_cache(maxsize=8)
def load_basemap(path: str | Path | None = None) -> Basemap:
    """The vendored GeoJSON (``basemap/build.py`` writes it); loaded once per file."""
    source = Path(path) if path else BASEMAP
    data = json.loads(source.read_text(encoding="utf-8"))
    countries = []
    for feature in data.get("features", []):
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        coords = geometry.get("coordinates") or []
        polygons = [coords] if geometry.get("type") == "Polygon" else coords
        countries.append(Country(
            str(props.get("name") or ""), props.get("iso_a2"), str(props.get("iso_n3") or ""),
            tuple(tuple(tuple((float(p[0]), float(p[1])) for p in ring) for ring in polygon) for polygon in polygons)))
    box = data.get("bbox")
    if box:
        bounds = Bounds(*(float(v) for v in box))
    else:
        points = [p for c in countries for poly in c.polygons for ring in poly for p in ring]
        bounds = Bounds(min(p[0] for p in points), min(p[1] for p in points),
                        max(p[0] for p in points), max(p[1] for p in points))
    return Basemap(tuple(countries), bounds, str(source))


@lru_cache(maxsize=16)
def _territory_names(locale: str) -> dict[str, str]:
    """ISO 3166 alpha-2 → the country's name in ``locale`` (CLDR, as Babel ships it)."""
    from babel import Locale, UnknownLocaleError

    try:
        return {str(k): str(v) for k, v in Locale.parse(locale.replace("-", "_")).territories.items()}
    except (ValueError, UnknownLocaleError):
        return {}


def country_name(country: Country, locale: str | None) -> str:
    """The country's name in the analyst's language, else the basemap's English name."""
    if locale and country.iso_a2:
        return _territory_names(locale).get(country.iso_a2.upper(), country.name)
    return country.name


def marks_from_counts(counts: Mapping[str, float], region: str,
                      labels: Mapping[str, str] | None = None) -> list[TownMark]:
    """Town names with counts (facets, trends) → marks at the gazetteer's coordinates.

    Names resolve in ``region``'s gazetteer (folded, aliases); names that are no town are left
    out, and counts of names that are the same town (an alias and its canonical spelling) add
    up. ``labels``: optional tooltip per canonical name."""
    places = gazetteer(region.upper())
    totals: dict[str, float] = {}
    where: dict[str, tuple[float, float]] = {}
    for name, count in counts.items():
        town = places.resolve(name)
        if town is None or not math.isfinite(float(count)):
            continue
        totals[town.name] = totals.get(town.name, 0.0) + float(count)
        where[town.name] = (town.lat, town.lon)
    return [TownMark(name, where[name][0], where[name][1], value, (labels or {}).get(name))
            for name, value in sorted(totals.items())]


def bounds_around(points: Iterable[tuple[float, float]], margin_km: float = 60.0) -> Bounds | None:
    """A box around (lat, lon) points with a margin: to zoom on a route or a few towns."""
    found = [(lat, lon) for lat, lon in points if math.isfinite(lat) and math.isfinite(lon)]
    if not found:
        return None
    south, north = min(p[0] for p in found), max(p[0] for p in found)
    west, east = min(p[1] for p in found), max(p[1] for p in found)
    dlat = margin_km / 111.195
    dlon = margin_km / (111.195 * max(0.1, math.cos(math.radians((south + north) / 2))))
    return Bounds(west - dlon, south - dlat, east + dlon, north + dlat)


# --- text: what hostile strings may still carry after escaping --------------------------

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
                     "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def clean_text(text: object, limit: int = 160) -> str:
    """Printable, one line, at most ``limit`` characters: XML 1.0 forbids most control
    characters even escaped, and a bidi override could make "Gävle" read as another town."""
    cleaned = " ".join(_UNSAFE.sub(" ", str(text)).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _number(value: float) -> str:
    """Counts as integers when they are, else one decimal."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _f(value: float) -> str:
    """A coordinate in the viewBox: one decimal, no "-0", no trailing ".0" (shorter, same bytes every run)."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


# --- projection -------------------------------------------------------------------------

@dataclass(frozen=True)
class Projection:
    bounds: Bounds
    width: int

    @property
    def kx(self) -> float:
        return math.cos(math.radians((self.bounds.south + self.bounds.north) / 2))

    @property
    def scale(self) -> float:
        """Pixels per degree of latitude."""
        return self.width / ((self.bounds.east - self.bounds.west) * self.kx)

    @property
    def height(self) -> int:
        return max(1, round((self.bounds.north - self.bounds.south) * self.scale))

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.bounds.west) * self.kx * self.scale, (self.bounds.north - lat) * self.scale


def _grow(bounds: Bounds, lat: float, lon: float, margin: float = 0.3) -> Bounds:
    margin_lon = margin / max(0.1, math.cos(math.radians(lat)))
    return Bounds(min(bounds.west, lon - margin_lon), min(bounds.south, lat - margin),
                  max(bounds.east, lon + margin_lon), max(bounds.north, lat + margin))


def _clamp(bounds: Bounds, limit: Bounds) -> Bounds:
    return Bounds(max(bounds.west, limit.west), max(bounds.south, limit.south),
                  min(bounds.east, limit.east), min(bounds.north, limit.north))


def default_bounds(basemap: Basemap, home: str, points: Sequence[tuple[float, float]] = (),
                   max_aspect: float = 1.3) -> Bounds:
    """The home country with a margin, widened (never beyond the basemap) so the map is at most
    ``max_aspect`` times as tall as wide, then grown to hold the given (lat, lon) points."""
    country = basemap.country(home)
    ring_points = [p for poly in country.polygons for p in poly[0]] if country else []
    if ring_points:
        view = Bounds(min(p[0] for p in ring_points) - 0.6, min(p[1] for p in ring_points) - 0.4,
                      max(p[0] for p in ring_points) + 0.6, max(p[1] for p in ring_points) + 0.4)
    else:
        view = basemap.bounds
    for lat, lon in points:
        if basemap.bounds.contains(lat, lon):
            view = _grow(view, lat, lon)
    view = _clamp(view, basemap.bounds)
    kx = math.cos(math.radians((view.south + view.north) / 2))
    wanted_lon = (view.north - view.south) / (max_aspect * kx)
    if view.east - view.west < wanted_lon:
        extra = (wanted_lon - (view.east - view.west)) / 2
        west, east = view.west - extra, view.east + extra
        if west < basemap.bounds.west:
            east, west = min(basemap.bounds.east, east + basemap.bounds.west - west), basemap.bounds.west
        if east > basemap.bounds.east:
            west, east = max(basemap.bounds.west, west - (east - basemap.bounds.east)), basemap.bounds.east
        view = Bounds(west, view.south, east, view.north)
    return view


# --- land (cached: the basemap and the view change rarely, towns on every request) ------------

def _ring_path(ring: Sequence[LonLat], projection: Projection, min_px: float = 0.8) -> str:
    """One closed ring, with points closer than ``min_px`` to the last kept one dropped."""
    kept: list[tuple[float, float]] = []
    for lon, lat in ring:
        x, y = projection.xy(lat, lon)
        if not kept or math.hypot(x - kept[-1][0], y - kept[-1][1]) >= min_px:
            kept.append((x, y))
    if len(kept) < 3:
        return ""
    xs, ys = [p[0] for p in kept], [p[1] for p in kept]
    if max(xs) < 0 or min(xs) > projection.width or max(ys) < 0 or min(ys) > projection.height:
        return ""  # wholly outside the view
    if max(xs) - min(xs) < 1 and max(ys) - min(ys) < 1:
        return ""  # smaller than a pixel
    return "M" + "L".join(f"{_f(x)} {_f(y)}" for x, y in kept) + "Z"


@lru_cache(maxsize=32)
def _land_paths(basemap_path: str, bounds: Bounds, width: int) -> tuple[tuple[str, str | None, str], ...]:
    """(name, iso_a2, path data) per country with something in view."""
    basemap = load_basemap(basemap_path)
    projection = Projection(bounds, width)
    out = []
    for country in basemap.countries:
        data = "".join(_ring_path(ring, projection) for poly in country.polygons for ring in poly)
        if data:
            out.append((country.name, country.iso_a2, data))
    return tuple(out)


# --- the map ----------------------------------------------------------------------------------

def _el(parent: ET.Element, tag: str, attrs: Mapping[str, str] | None = None, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag, dict(attrs or {}))
    if text is not None:
        element.text = clean_text(text)
    return element


def _halo(attrs: dict[str, str]) -> dict[str, str]:
    """Dark text with a white outline drawn under it, readable over land, sea and roads."""
    return {**attrs, "fill": TEXT, "stroke": "#ffffff", "stroke-width": "3", "stroke-linejoin": "round",
            "paint-order": "stroke", "font-family": FONT}


def _radius_scale(width: int) -> float:
    return max(8.0, width * 0.045)  # the largest town's radius, px


def town_radius(value: float, largest: float, width: int) -> float:
    """Area proportional to the value; a town with very few stays visible as a 1 px dot."""
    if largest <= 0 or value <= 0:
        return 0.0
    return round(max(1.0, _radius_scale(width) * math.sqrt(value / largest)), 2)


def _nice_below(value: float) -> float:
    """1, 2 or 5 times a power of ten, at most ``value``: the legend's smaller circle."""
    if value < 1:
        return 0.0
    power = 10 ** math.floor(math.log10(value))
    return max(step * power for step in (1, 2, 5) if step * power <= value)


def _route_points(route: Sequence[RouteStop], projection: Projection) -> list[tuple[int, RouteStop, float, float]]:
    found = []
    for n, stop in enumerate(route, start=1):
        if math.isfinite(stop.lat) and math.isfinite(stop.lon):
            x, y = projection.xy(stop.lat, stop.lon)
            found.append((n, stop, x, y))
    return found


def render_map(towns: Sequence[TownMark], roads: Mapping[str, Road] | None = None,
               route: Sequence[RouteStop] | None = None, title: str = "", width: int = 640, *,
               home: str = "SE", labels: MapLabels | None = None, basemap: str | Path | None = None,
               bounds: Bounds | None = None, id_prefix: str = "map", named_towns: int = 8,
               locale: str | None = None) -> str:
    """The map as an SVG string (no XML declaration: it can be served as image/svg+xml or put
    inline in a page).

    ``towns``: circles, area proportional to ``value`` (towns with no value or off the map are
    left out). ``roads``: geo.highways roads, drawn and labelled. ``route``: stops in the order
    given (the caller sorts by date), joined by a line with arrows and numbered. ``home``:
    ISO 3166 alpha-2 of the country filled as home (ADWATCH_DEFAULT_REGION). ``bounds``: the
    view, default the home country and every town and stop. ``id_prefix``: for the ids the
    SVG uses internally, distinct when a page holds two maps. ``named_towns``: how many of the
    largest towns get their name written beside the circle. ``locale``: the language countries
    are named in (Babel/CLDR, "sv" → "Sverige"); default the basemap's English names."""
    labels = labels or MapLabels()
    width = max(120, min(4000, int(width)))
    prefix = re.sub(r"[^A-Za-z0-9_-]", "", id_prefix) or "map"
    if not prefix[0].isalpha():
        prefix = "m" + prefix
    base = load_basemap(basemap)
    marks = [t for t in towns if math.isfinite(t.lat) and math.isfinite(t.lon)
             and math.isfinite(t.value) and t.value > 0]
    stops = list(route or [])
    if bounds is None:
        points = [(t.lat, t.lon) for t in marks] + [(s.lat, s.lon) for s in stops
                                                     if math.isfinite(s.lat) and math.isfinite(s.lon)]
        bounds = default_bounds(base, home, points)
    projection = Projection(bounds, width)
    height = projection.height
    marks = [t for t in marks if bounds.contains(t.lat, t.lon)]
    marks.sort(key=lambda t: (-t.value, clean_text(t.name), t.lat, t.lon))  # big first: small ones stay on top

    svg = ET.Element("svg", {"xmlns": SVG_NS, "viewBox": f"0 0 {width} {height}", "width": str(width),
                             "height": str(height), "role": "img", "aria-labelledby": f"{prefix}-title",
                             "aria-describedby": f"{prefix}-desc", "class": "adwatch-map"})
    _el(svg, "title", {"id": f"{prefix}-title"}, title or labels.default_title)
    if marks:
        top = ", ".join(f"{clean_text(t.name, 60)} {_number(t.value)}" for t in marks[:5])
        summary = labels.summary.format(count=len(marks), top=top)
    else:
        summary = labels.empty
    _el(svg, "desc", {"id": f"{prefix}-desc"}, summary)

    _el(svg, "rect", {"class": "sea", "x": "0", "y": "0", "width": str(width), "height": str(height), "fill": SEA})
    land = _el(svg, "g", {"class": "land", "stroke": BORDER, "stroke-width": "0.7", "stroke-linejoin": "round",
                          "fill-rule": "evenodd"})
    home_name = None
    names = {c.name: country_name(c, locale) for c in base.countries}
    for english, iso_a2, data in _land_paths(base.path, bounds, width):
        name = names.get(english, english)
        is_home = (iso_a2 or "").upper() == home.upper()
        home_name = name if is_home else home_name
        path = _el(land, "path", {"class": "home" if is_home else "neighbour", "d": data,
                                  "fill": HOME_FILL if is_home else NEIGHBOUR_FILL})
        _el(path, "title", None, name)

    if roads:
        circles = [(*projection.xy(t.lat, t.lon), town_radius(t.value, marks[0].value, width)) for t in marks]
        circles += [(x, y, 9.0) for _, _, x, y in _route_points(stops, projection)]
        _draw_roads(svg, roads, projection, [(x - r, y - r, x + r, y + r) for x, y, r in circles])
    if marks:
        _draw_towns(svg, marks, labels, projection, named_towns)
    if stops:
        _draw_route(svg, stops, projection)
    _draw_legend(svg, marks, labels, width, bool(roads), bool(stops), labels.home or home_name)
    return ET.tostring(svg, encoding="unicode")


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the viewBox


def _shield_box(x: float, y: float, half: float) -> Box:
    return x - half - 2, y - 9.5, x + half + 2, y + 9.5


def _shield_spot(points: Sequence[tuple[float, float]], half: float, projection: Projection,
                 obstacles: Sequence[Box]) -> tuple[float, float] | None:
    """Where a road's name goes: between two waypoints (waypoints are towns, where the circles
    are), nearest the middle of the part in view, clear of towns, stops and other names."""
    def in_view(x: float, y: float) -> bool:
        return half + 2 <= x <= projection.width - half - 2 and 10 <= y <= projection.height - 10

    candidates = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(points, points[1:], strict=False)]
    candidates = [c for c in candidates if in_view(*c)] or [p for p in points if in_view(*p)]
    if not candidates:
        return None
    middle = (len(candidates) - 1) / 2
    ranked = sorted(range(len(candidates)), key=lambda i: (abs(i - middle), i))
    for i in ranked:
        x0, y0, x1, y1 = _shield_box(*candidates[i], half)
        if all(x1 < b[0] or x0 > b[2] or y1 < b[1] or y0 > b[3] for b in obstacles):
            return candidates[i]
    return candidates[ranked[0]]


def _draw_roads(svg: ET.Element, roads: Mapping[str, Road], projection: Projection,
                obstacles: Sequence[Box] = ()) -> None:
    group = _el(svg, "g", {"class": "roads", "fill": "none", "stroke": ROAD, "stroke-linecap": "round",
                           "stroke-linejoin": "round"})
    shields: list[tuple[str, tuple[float, float]]] = []
    taken = list(obstacles)
    for name in sorted(roads):
        road = roads[name]
        text = clean_text(name, 8)
        half = 3.5 * len(text) + 4
        road_group = _el(group, "g", {"class": "road"})
        _el(road_group, "title", None, name)
        longest: list[tuple[float, float]] = []  # the line with the most waypoints in view gets the name
        most = 0
        for line in road.lines:
            points = [projection.xy(lat, lon) for lat, lon in line if math.isfinite(lat) and math.isfinite(lon)]
            if len(points) < 2:
                continue
            _el(road_group, "polyline", {"points": " ".join(f"{_f(x)},{_f(y)}" for x, y in points),
                                         "stroke-width": "2" if name.upper().startswith("E") else "1.4"})
            shown = sum(1 for x, y in points if 0 <= x <= projection.width and 0 <= y <= projection.height)
            if shown > most:
                longest, most = points, shown
        spot = _shield_spot(longest, half, projection, taken) if longest else None
        if spot:
            shields.append((text, spot))
            taken.append(_shield_box(*spot, half))
    # Shields after every line, so no road is drawn over another's name.
    for text, (x, y) in shields:
        half = 3.5 * len(text) + 4
        shield = _el(svg, "g", {"class": "road-label"})
        _el(shield, "rect", {"x": _f(x - half), "y": _f(y - 7.5), "width": _f(2 * half), "height": "15", "rx": "2",
                             "fill": ROAD, "stroke": "#ffffff", "stroke-width": "1"})
        _el(shield, "text", {"x": _f(x), "y": _f(y + 4), "text-anchor": "middle", "font-size": "11",
                             "font-weight": "bold", "font-family": FONT, "fill": "#ffffff"}, text)


def _draw_towns(svg: ET.Element, marks: Sequence[TownMark], labels: MapLabels, projection: Projection,
                named: int) -> None:
    largest = marks[0].value
    group = _el(svg, "g", {"class": "towns", "fill": TOWN_FILL, "fill-opacity": "0.6", "stroke": TOWN_STROKE,
                           "stroke-width": "1"})
    names_at = []
    for n, mark in enumerate(marks):
        x, y = projection.xy(mark.lat, mark.lon)
        radius = town_radius(mark.value, largest, projection.width)
        tooltip = mark.label if mark.label is not None else labels.town_tooltip.format(
            name=clean_text(mark.name, 80), value=_number(mark.value))
        circle = _el(group, "circle", {"class": "town", "cx": _f(x), "cy": _f(y), "r": f"{radius:g}",
                                       "data-value": _number(mark.value)})
        _el(circle, "title", None, tooltip)
        if n < named:
            names_at.append((mark.name, x + radius + 3, y + 4))
    names = _el(svg, "g", {"class": "town-names", "aria-hidden": "true"})
    for name, x, y in names_at:
        _el(names, "text", _halo({"x": _f(x), "y": _f(y), "font-size": "11"}), clean_text(name, 40))


def _arrow(x1: float, y1: float, x2: float, y2: float, aside: float = 0.0, size: float = 8.0) -> str | None:
    """A triangle at the middle of a leg, pointing along it; ``aside`` sets it off to the right
    so a number that went A → B → A shows both legs' arrows side by side."""
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy)
    if length < 2 * size:
        return None
    ux, uy = dx / length, dy / length
    nx, ny = -uy, ux  # to the right of travel, in screen coordinates (y down)
    mx, my = (x1 + x2) / 2 + nx * aside, (y1 + y2) / 2 + ny * aside
    tip = (mx + ux * size / 2, my + uy * size / 2)
    left = (mx - ux * size / 2 + nx * size / 2, my - uy * size / 2 + ny * size / 2)
    right = (mx - ux * size / 2 - nx * size / 2, my - uy * size / 2 - ny * size / 2)
    return "M" + "L".join(f"{_f(x)} {_f(y)}" for x, y in (tip, left, right)) + "Z"


def _draw_route(svg: ET.Element, stops: Sequence[RouteStop], projection: Projection) -> None:
    placed = _route_points(stops, projection)
    if not placed:
        return
    group = _el(svg, "g", {"class": "route"})
    line: list[tuple[float, float]] = []
    for _, _, x, y in placed:
        point = (round(x, 1), round(y, 1))
        if not line or line[-1] != point:
            line.append(point)
    if len(line) > 1:
        _el(group, "polyline", {"class": "route-line", "points": " ".join(f"{_f(x)},{_f(y)}" for x, y in line),
                                "fill": "none", "stroke": ROUTE, "stroke-width": "2.5", "stroke-linejoin": "round"})
        legs = list(zip(line, line[1:], strict=False))
        back = {(q, p) for p, q in legs}
        arrows = [a for a in (_arrow(*p, *q, aside=5.0 if (p, q) in back else 0.0) for p, q in legs) if a]
        if arrows:
            _el(group, "path", {"class": "route-arrows", "d": "".join(arrows), "fill": ROUTE})
    # Stops at one place (a number that came back) share one marker listing every visit.
    visits: dict[tuple[float, float], list[tuple[int, RouteStop]]] = {}
    for n, stop, x, y in placed:
        visits.setdefault((round(x, 1), round(y, 1)), []).append((n, stop))
    for (x, y), here in visits.items():
        numbers = [str(n) for n, _ in here]
        text = ",".join(numbers) if len(",".join(numbers)) <= 5 else numbers[0] + "+"
        stop_group = _el(group, "g", {"class": "stop", "data-stop": " ".join(numbers)})
        _el(stop_group, "title", None, "; ".join(
            f"{n}. {clean_text(stop.label, 80)}" + (f", {clean_text(stop.date, 40)}" if stop.date else "")
            for n, stop in here))
        _el(stop_group, "circle", {"cx": _f(x), "cy": _f(y), "r": "9", "fill": ROUTE, "stroke": "#ffffff",
                                   "stroke-width": "1.5"})
        _el(stop_group, "text", {"x": _f(x), "y": _f(y + 3.5), "text-anchor": "middle",
                                 "font-size": "10" if len(text) < 3 else "8", "font-weight": "bold",
                                 "font-family": FONT, "fill": "#ffffff"}, text)


def _draw_legend(svg: ET.Element, marks: Sequence[TownMark], labels: MapLabels, width: int, roads: bool, route: bool,
                 home_name: str | None) -> None:
    rows: list[tuple[str, str, float]] = []  # (kind, text, sample size)
    if marks:
        largest = marks[0].value
        rows.append(("town", labels.legend_value.format(value=_number(largest)), largest))
        smaller = _nice_below(largest / 4)
        if 0 < smaller < largest:
            rows.append(("town", labels.legend_value.format(value=_number(smaller)), smaller))
    if roads:
        rows.append(("road", labels.roads, 0))
    if route:
        rows.append(("route", labels.route, 0))
    if home_name:
        rows.append(("home", home_name, 0))
    rows.append(("neighbour", labels.neighbours, 0))
    big = town_radius(marks[0].value, marks[0].value, width) if marks else 0.0
    column = max(24.0, 2 * big + 8)
    heights = [max(18.0, 2 * town_radius(size, marks[0].value, width) + 6) if kind == "town" else 18.0
               for kind, _, size in rows]
    box_w = column + 12 + 6.2 * max(len(clean_text(text, 40)) for _, text, _ in rows)
    legend = _el(svg, "g", {"class": "legend", "font-family": FONT, "font-size": "11"})
    _el(legend, "rect", {"x": "8", "y": "8", "width": _f(box_w), "height": _f(sum(heights) + 12), "rx": "4",
                         "fill": "#ffffff", "fill-opacity": "0.92", "stroke": BORDER, "stroke-width": "0.7"})
    y = 14.0
    cx = 14 + column / 2
    for (kind, text, size), h in zip(rows, heights, strict=True):
        mid = y + h / 2
        if kind == "town":
            radius = town_radius(size, marks[0].value, width)
            _el(legend, "circle", {"cx": _f(cx), "cy": _f(mid), "r": f"{radius:g}", "fill": TOWN_FILL,
                                   "fill-opacity": "0.6", "stroke": TOWN_STROKE, "stroke-width": "1"})
        elif kind == "road":
            _el(legend, "line", {"x1": _f(cx - 10), "y1": _f(mid), "x2": _f(cx + 10), "y2": _f(mid), "stroke": ROAD,
                                 "stroke-width": "2"})
        elif kind == "route":
            _el(legend, "line", {"x1": _f(cx - 10), "y1": _f(mid), "x2": _f(cx + 10), "y2": _f(mid), "stroke": ROUTE,
                                 "stroke-width": "2.5"})
        else:
            _el(legend, "rect", {"x": _f(cx - 8), "y": _f(mid - 6), "width": "16", "height": "12",
                                 "fill": HOME_FILL if kind == "home" else NEIGHBOUR_FILL, "stroke": BORDER,
                                 "stroke-width": "0.7"})
        _el(legend, "text", {"x": _f(14 + column + 6), "y": _f(mid + 4), "fill": TEXT}, clean_text(text, 40))
        y += h
