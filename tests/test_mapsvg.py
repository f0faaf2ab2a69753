"""adwatch/web/mapsvg.py and the vendored basemap: the offline map as server-side SVG."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from adwatch.web import mapsvg
from adwatch.web.basemap import build
from adwatch.web.mapsvg import Bounds, MapLabels, RouteStop, TownMark, load_basemap, render_map
from geo.gazetteer import gazetteer
from geo.highways import Road, roads

NS = {"svg": "http://www.w3.org/2000/svg"}
BASEMAP_DIR = Path(mapsvg.__file__).resolve().parent / "basemap"


def _town(name: str, value: float, label: str | None = None) -> TownMark:
    town = gazetteer("SE").resolve(name)
    assert town is not None, name
    return TownMark(town.name, town.lat, town.lon, value, label)


def _stop(name: str, date: str) -> RouteStop:
    town = gazetteer("SE").resolve(name)
    assert town is not None, name
    return RouteStop(town.lat, town.lon, town.name, date)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _points(text: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in text.split())]


# --- the basemap -------------------------------------------------------------------------

def test_the_basemap_loads_with_sweden_and_its_neighbours() -> None:
    basemap = load_basemap()
    sweden = basemap.country("SE")
    assert sweden is not None and sweden.name == "Sweden" and sweden.iso_n3 == "752"
    assert {"SE", "NO", "FI", "DK"} <= {c.iso_a2 for c in basemap.countries}
    exteriors = [poly[0] for poly in sweden.polygons]
    assert len(exteriors) >= 3  # the mainland, Gotland, Öland at least
    lats = [p[1] for ring in exteriors for p in ring]
    lons = [p[0] for ring in exteriors for p in ring]
    assert 55.0 < min(lats) < 55.6 and 68.8 < max(lats) < 69.3
    assert 10.8 < min(lons) < 11.4 and 23.9 < max(lons) < 24.3
    for country in basemap.countries:
        for polygon in country.polygons:
            for n, ring in enumerate(polygon):
                assert ring[0] == ring[-1] and len(ring) >= 4
                assert all(basemap.bounds.contains(lat, lon) for lon, lat in ring)
                assert (build.signed_area(ring[:-1]) > 0) == (n == 0)  # RFC 7946 orientation
    # Gävle lies in Sweden's mainland ring (a point-in-polygon check on the vendored outline).
    gavle = gazetteer("SE").resolve("Gävle")
    assert gavle and _inside((gavle.lon, gavle.lat), max(exteriors, key=len))


def _inside(point: tuple[float, float], ring: tuple[tuple[float, float], ...]) -> bool:
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def test_the_vendored_files_are_small_and_say_where_they_come_from() -> None:
    geojson = BASEMAP_DIR / "nordic.geojson"
    assert geojson.stat().st_size < 200_000
    assert json.loads(geojson.read_text(encoding="utf-8"))["type"] == "FeatureCollection"
    provenance = (BASEMAP_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
    for fact in ("world-atlas", "2.0.2", "ISC", "Natural Earth", "countries-50m.json",
                 "python -m adwatch.web.basemap.build", "--ids", "sha512-"):
        assert fact in provenance, fact


def test_the_topojson_decoder_follows_quantized_delta_arcs_and_reversed_indexes(tmp_path: Path) -> None:
    """Two squares sharing one arc (quantized, delta-encoded), the second using it reversed (~0)."""
    topology = {
        "type": "Topology",
        "transform": {"scale": [0.5, 0.25], "translate": [10.0, 60.0]},
        "arcs": [
            [[2, 0], [0, 4]],                    # (11, 60) → (11, 61): the shared border
            [[2, 4], [-2, 0], [0, -4], [2, 0]],  # (11, 61) → (10, 61) → (10, 60) → (11, 60)
            [[2, 0], [2, 0], [0, 4], [-2, 0]],   # (11, 60) → (12, 60) → (12, 61) → (11, 61)
        ],
        "objects": {"countries": {"type": "GeometryCollection", "geometries": [
            {"type": "Polygon", "id": "752", "properties": {"name": "West"}, "arcs": [[0, 1]]},
            {"type": "Polygon", "id": "578", "properties": {"name": "East"}, "arcs": [[2, -1]]},
            {"type": "Polygon", "id": "999", "properties": {"name": "Not kept"}, "arcs": [[2, -1]]},
        ]}},
    }
    assert build.decode_arcs(topology)[0] == [(11.0, 60.0), (11.0, 61.0)]
    collection = build.build(topology, [752, 578], (0.0, 50.0, 20.0, 70.0), tolerance=0.001, min_area_km2=0)
    by_name = {f["properties"]["name"]: f for f in collection["features"]}
    assert set(by_name) == {"West", "East"}
    assert by_name["West"]["properties"]["iso_a2"] == "SE"
    west = by_name["West"]["geometry"]["coordinates"][0][0]
    east = by_name["East"]["geometry"]["coordinates"][0][0]
    assert sorted(map(tuple, west[:-1])) == [(10.0, 60.0), (10.0, 61.0), (11.0, 60.0), (11.0, 61.0)]
    assert sorted(map(tuple, east[:-1])) == [(11.0, 60.0), (11.0, 61.0), (12.0, 60.0), (12.0, 61.0)]
    out = tmp_path / "two.geojson"
    build.write_geojson(collection, out)
    loaded = load_basemap(out)
    assert [c.name for c in loaded.countries] == ["East", "West"]  # sorted by id


def test_the_build_clips_to_the_box_and_unwraps_the_antimeridian() -> None:
    square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    clipped = build.clip_ring(square, (5.0, -5.0, 15.0, 5.0))
    assert sorted(clipped) == [(5.0, 0.0), (5.0, 5.0), (10.0, 0.0), (10.0, 5.0)]
    # A ring cut at ±180 (Russia's far east) must not become a stripe across a box far from it.
    wrapped = [(170.0, 65.0), (180.0, 65.0), (-180.0, 65.0), (-170.0, 65.0), (-170.0, 66.0), (170.0, 66.0)]
    assert build.clip_ring(build.unwrap(wrapped), (3.0, 53.5, 32.0, 71.5)) == []
    assert build.simplify([(0.0, 0.0), (1.0, 0.001), (2.0, 0.0)], 0.01, 1.0) == [(0.0, 0.0), (2.0, 0.0)]


# --- the map -----------------------------------------------------------------------------

def test_the_map_is_an_accessible_svg_image() -> None:
    svg = render_map([_town("Gävle", 12)], roads(), title="Annonser per ort")
    root = _parse(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("role") == "img"
    title = root.find(f"svg:title[@id='{root.get('aria-labelledby')}']", NS)
    assert title is not None and title.text == "Annonser per ort"
    desc = root.find(f"svg:desc[@id='{root.get('aria-describedby')}']", NS)
    assert desc is not None and "Gävle 12" in (desc.text or "")
    circle = root.find(".//svg:circle[@class='town']", NS)
    assert circle is not None
    tooltip = circle.find("svg:title", NS)
    assert tooltip is not None and tooltip.text == "Gävle: 12 ads"
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"


def test_sweden_is_home_and_the_home_region_is_a_parameter() -> None:
    root = _parse(render_map([], None))
    homes = root.findall(".//svg:path[@class='home']", NS)
    assert [h.findtext("svg:title", namespaces=NS) for h in homes] == ["Sweden"]
    assert homes[0].get("fill") == mapsvg.HOME_FILL
    neighbours = {p.findtext("svg:title", namespaces=NS) for p in root.findall(".//svg:path[@class='neighbour']", NS)}
    assert {"Norway", "Finland", "Denmark"} <= neighbours
    norway = _parse(render_map([], None, home="NO"))
    homes = norway.findall(".//svg:path[@class='home']", NS)
    assert [h.findtext("svg:title", namespaces=NS) for h in homes] == ["Norway"]


HOSTILE = [
    "<script>alert(1)</script>",
    '"onload="alert(2)',
    "]]><img src=x onerror=alert(3)>",
    "Bad\x00\x01\x08\x0b\x1b\x7f\x85\ud800name",
    "\u202egnirtS",
    "<![CDATA[x]]>&amp;<!-- c -->",
    "x" * 5000,
]


def test_hostile_names_appear_only_escaped() -> None:
    gavle = gazetteer("SE").resolve("Gävle")
    assert gavle
    towns = [TownMark(name, gavle.lat + n * 0.3, gavle.lon, n + 1) for n, name in enumerate(HOSTILE)]
    route = [RouteStop(gavle.lat + n * 0.3, gavle.lon + 1, name, name) for n, name in enumerate(HOSTILE)]
    evil_roads = {name: Road(name, (((gavle.lat, gavle.lon), (gavle.lat + 1, gavle.lon + 1)),)) for name in HOSTILE}
    svg = render_map(towns, evil_roads, route, title=HOSTILE[0] + HOSTILE[1], named_towns=len(HOSTILE),
                     labels=MapLabels(home=HOSTILE[2]), id_prefix='x"><script>')
    root = _parse(svg)  # well-formed XML, whatever the names held
    assert "<script" not in svg and "<img" not in svg and "<![CDATA" not in svg and "<!--" not in svg
    assert "&lt;script&gt;" in svg and "]]&gt;" in svg
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202e\ud800-\udfff]", svg)
    svg.encode("utf-8")  # no lone surrogate survives
    tags = {el.tag.split("}")[1] for el in root.iter()}
    assert tags <= {"svg", "title", "desc", "rect", "g", "path", "polyline", "circle", "text", "line"}
    for element in root.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on") and name not in ("style", "href")
            assert "javascript:" not in value.lower()
    assert root.get("aria-labelledby") == "xscript-title"
    # The text is still there, readable, and bounded.
    texts = [el.text or "" for el in root.iter()]
    assert any("<script>alert(1)</script>: 1 ads" == t for t in texts)
    assert max(len(t) for t in texts) < 400


def test_no_style_or_script_so_a_strict_csp_draws_it() -> None:
    svg = render_map([_town("Gävle", 12), _town("Stockholm", 40)], roads(),
                     [_stop("Malmö", "2026-11-01"), _stop("Gävle", "2026-11-02")])
    assert "style" not in svg and "<script" not in svg and "url(" not in svg
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg\")", svg)


def test_circle_areas_are_proportional_to_the_values() -> None:
    values = {"Stockholm": 400, "Göteborg": 100, "Malmö": 25, "Gävle": 9, "Umeå": 4}
    root = _parse(render_map([_town(name, v) for name, v in values.items()], None))
    circles = root.findall(".//svg:g[@class='towns']/svg:circle", NS)
    assert len(circles) == len(values)
    area = {c.findtext("svg:title", namespaces=NS, default="").split(":")[0]: math.pi * float(c.get("r", "0")) ** 2
            for c in circles}
    for name, value in values.items():
        assert math.isclose(area[name] / area["Stockholm"], value / 400, rel_tol=0.02), name
    assert [float(c.get("r", "0")) for c in circles] == sorted((float(c.get("r", "0")) for c in circles), reverse=True)


def test_towns_off_the_map_or_without_a_value_are_left_out() -> None:
    towns = [_town("Gävle", 3), TownMark("Nowhere", 0.0, 0.0, 5), TownMark("NaN", math.nan, 15.0, 5),
             _town("Umeå", 0), _town("Luleå", -2), TownMark("Inf", 60.0, 15.0, math.inf)]
    root = _parse(render_map(towns, None))
    names = [c.findtext("svg:title", namespaces=NS) for c in root.findall(".//svg:circle[@class='town']", NS)]
    assert names == ["Gävle: 3 ads"]


def test_the_route_is_drawn_in_the_given_order_with_numbered_stops() -> None:
    order = ["Malmö", "Jönköping", "Linköping", "Gävle", "Sundsvall"]
    # Dates deliberately not sorted: the caller orders the stops, the map keeps that order.
    stops = [_stop(name, f"2026-11-{10 - n:02d}") for n, name in enumerate(order)]
    root = _parse(render_map([], roads(), stops))
    line = root.find(".//svg:polyline[@class='route-line']", NS)
    assert line is not None
    groups = root.findall(".//svg:g[@class='stop']", NS)
    assert [g.findtext("svg:text", namespaces=NS) for g in groups] == ["1", "2", "3", "4", "5"]
    assert [g.findtext("svg:title", namespaces=NS) for g in groups][0] == "1. Malmö, 2026-11-10"
    centres = [(float(c.get("cx", "0")), float(c.get("cy", "0"))) for g in groups for c in g.findall("svg:circle", NS)]
    assert _points(line.get("points", "")) == centres
    ys = [y for _, y in centres]
    assert ys == sorted(ys, reverse=True)  # south to north, as travelled
    arrows = root.find(".//svg:path[@class='route-arrows']", NS)
    assert arrows is not None and arrows.get("d", "").count("M") == len(order) - 1
    reverse = _parse(render_map([], None, list(reversed(stops))))
    back = reverse.find(".//svg:polyline[@class='route-line']", NS)
    assert back is not None and _points(back.get("points", "")) == list(reversed(centres))


def test_a_town_visited_twice_is_one_stop_with_both_numbers() -> None:
    stops = [_stop("Gävle", "2026-11-01"), _stop("Sundsvall", "2026-11-03"), _stop("Gävle", "2026-11-05")]
    root = _parse(render_map([], None, stops))
    groups = root.findall(".//svg:g[@class='stop']", NS)
    assert [g.get("data-stop") for g in groups] == ["1 3", "2"]
    assert groups[0].findtext("svg:text", namespaces=NS) == "1,3"
    assert groups[0].findtext("svg:title", namespaces=NS) == "1. Gävle, 2026-11-01; 3. Gävle, 2026-11-05"
    arrows = root.find(".//svg:path[@class='route-arrows']", NS)
    assert arrows is not None and arrows.get("d", "").count("M") == 2


def test_roads_are_drawn_and_labelled_including_the_highways_file(tmp_path: Path) -> None:
    extra = tmp_path / "roads.geojson"
    extra.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"ref": "E 99"},
        "geometry": {"type": "MultiLineString",
                     "coordinates": [[[14.0, 60.0], [15.0, 61.0]], [[16.0, 62.0], [17.0, 63.0]]]},
    }]}), encoding="utf-8")
    found = roads(str(extra))
    root = _parse(render_map([], found))
    labels = [t.text for t in root.findall(".//svg:g[@class='road-label']/svg:text", NS)]
    assert {"E4", "E6", "E10", "E99"} <= set(labels)
    by_road = {g.findtext("svg:title", namespaces=NS): g for g in root.findall(".//svg:g[@class='road']", NS)}
    assert len(by_road["E99"].findall("svg:polyline", NS)) == 2
    assert len(by_road) == len(found)


def test_labels_are_the_callers_words() -> None:
    swedish = MapLabels(town_tooltip="{name}: {value} annonser", legend_value="{value} annonser",
                        roads="Europavägar", route="Färdväg", home="Sverige", neighbours="Grannländer",
                        summary="{count} orter; störst: {top}.", empty="Inga orter.")
    root = _parse(render_map([_town("Gävle", 12)], roads(), [_stop("Gävle", "")], labels=swedish))
    texts = [t.text for t in root.iter() if t.text]
    for word in ("Gävle: 12 annonser", "12 annonser", "Europavägar", "Färdväg", "Sverige", "Grannländer",
                 "1 orter; störst: Gävle 12."):
        assert word in texts, word
    assert root.findtext("svg:desc", namespaces=NS) == "1 orter; störst: Gävle 12."
    assert _parse(render_map([], None, labels=swedish)).findtext("svg:desc", namespaces=NS) == "Inga orter."


def test_the_output_is_deterministic() -> None:
    towns = [_town("Gävle", 12), _town("Stockholm", 40), _town("Kiruna", 2), _town("Göteborg", 12)]
    route = [_stop("Malmö", "2026-11-01"), _stop("Gävle", "2026-11-02")]
    first = render_map(towns, roads(), route, title="t")
    mapsvg._land_paths.cache_clear()
    load_basemap.cache_clear()
    assert render_map(list(reversed(towns)), dict(reversed(list(roads().items()))), route, title="t") == first


def test_the_view_holds_sweden_and_the_towns_and_can_be_zoomed() -> None:
    root = _parse(render_map([], None, width=640))
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    assert width == 640 and 1.0 < height / width <= 1.31
    assert len(render_map([], None)) < 120_000
    oslo = TownMark("Oslo", 59.91, 10.75, 3)  # a town abroad, inside the basemap: the view grows to hold it
    assert _parse(render_map([oslo], None)).find(".//svg:circle[@class='town']", NS) is not None
    zoom = mapsvg.bounds_around([(59.33, 18.07), (60.67, 17.14)], margin_km=30)
    assert zoom is not None and zoom.contains(60.0, 17.5) and not zoom.contains(64.0, 17.5)
    zoomed = _parse(render_map([_town("Gävle", 5), _town("Kiruna", 5)], None, bounds=zoom))
    assert [c.findtext("svg:title", namespaces=NS) for c in zoomed.findall(".//svg:circle[@class='town']", NS)] \
        == ["Gävle: 5 ads"]
    assert mapsvg.bounds_around([]) is None
    try:
        Bounds(10, 60, 5, 70)
    except ValueError:
        pass
    else:
        raise AssertionError("a box with west > east was accepted")


def test_countries_are_named_in_the_analysts_language() -> None:
    root = _parse(render_map([], None, locale="sv"))
    assert [h.findtext("svg:title", namespaces=NS) for h in root.findall(".//svg:path[@class='home']", NS)] \
        == ["Sverige"]
    neighbours = {p.findtext("svg:title", namespaces=NS) for p in root.findall(".//svg:path[@class='neighbour']", NS)}
    assert {"Norge", "Finland", "Danmark"} <= neighbours
    assert "Sverige" in [t.text for t in root.findall(".//svg:g[@class='legend']/svg:text", NS)]
    unknown = _parse(render_map([], None, locale="xx-not-a-locale"))  # falls back, never fails
    assert unknown.find(".//svg:path[@class='home']/svg:title", NS) is not None


def test_counts_by_town_name_become_marks_at_the_gazetteer_coordinates() -> None:
    marks = mapsvg.marks_from_counts({"Gävle": 3, "gavle": 2, "Göteborg": 4, "No Such Town": 9, "Kiruna": math.nan},
                                     "se", labels={"Gävle": "Gävle: 5 nya nummer"})
    assert [(m.name, m.value, m.label) for m in marks] == [("Gävle", 5.0, "Gävle: 5 nya nummer"),
                                                            ("Göteborg", 4.0, None)]
    gavle = gazetteer("SE").resolve("Gävle")
    assert gavle and (marks[0].lat, marks[0].lon) == (gavle.lat, gavle.lon)
    root = _parse(render_map(marks, None))
    assert [c.findtext("svg:title", namespaces=NS) for c in root.findall(".//svg:circle[@class='town']", NS)] \
        == ["Gävle: 5 nya nummer", "Göteborg: 4 ads"]
