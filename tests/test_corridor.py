"""geo/corridor.py: the gazetteer towns within N km of a road (the search filter's corridors)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from geo.corridor import UnknownRoad, find_road, towns_near_road
from geo.gazetteer import gazetteer
from geo.highways import distance_km, roads


def test_the_towns_the_e4_passes_are_in_its_corridor() -> None:
    near = towns_near_road("SE", "E4", 10)
    for town in ("Helsingborg", "Jönköping", "Linköping", "Norrköping", "Södertälje", "Gävle", "Sundsvall", "Umeå",
                 "Luleå", "Haparanda"):
        assert town in near, town


def test_towns_far_from_the_e4_are_out_and_kiruna_is_on_the_e10() -> None:
    near = towns_near_road("SE", "E4", 10)
    for town in ("Kiruna", "Göteborg", "Malmö", "Karlstad", "Östersund", "Visby"):
        assert town not in near, town
    assert "Kiruna" in towns_near_road("SE", "E10", 10)


def test_wider_corridors_hold_every_town_of_the_narrower() -> None:
    previous: set[str] = set()
    for km in (0, 2, 5, 10, 25, 50):
        found = set(towns_near_road("SE", "E4", km))
        assert previous <= found, km
        previous = found
    assert len(towns_near_road("SE", "E4", 50)) > len(towns_near_road("SE", "E4", 5))
    assert "Jönköping" in towns_near_road("SE", "E4", 0)  # a waypoint: on the road itself


def test_the_corridor_is_exactly_the_distance_rule() -> None:
    """The box pre-filter only saves time: the answer is every town with distance_km <= km."""
    road = roads()["E4"]
    expected = {t.name for t in gazetteer("SE").towns if distance_km((t.lat, t.lon), road) <= 15}
    assert set(towns_near_road("SE", "E4", 15)) == expected


def test_towns_come_in_the_order_the_road_passes_them() -> None:
    near = towns_near_road("SE", "E4", 10)
    order = [near.index(t) for t in ("Helsingborg", "Jönköping", "Södertälje", "Gävle", "Umeå", "Haparanda")]
    assert order == sorted(order)
    assert len(near) == len(set(near))


def test_road_names_are_compared_without_case_or_spaces() -> None:
    assert towns_near_road("se", "e 4", 5) == towns_near_road("SE", "E4", 5)
    assert find_road(" e10 ").name == "E10"


def test_bad_input_raises_a_value_error_with_a_clear_message() -> None:
    with pytest.raises(UnknownRoad, match="unknown road 'E999'.*E4"):
        towns_near_road("SE", "E999", 10)
    assert issubclass(UnknownRoad, ValueError)
    for km in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="not a distance"):
            towns_near_road("SE", "E4", km)


def test_callers_get_their_own_list_from_the_cache() -> None:
    first = towns_near_road("SE", "E4", 10)
    first.clear()
    assert towns_near_road("SE", "E4", 10)


def test_roads_of_the_highways_file_extend_and_replace(tmp_path: Path) -> None:
    """ADWATCH_HIGHWAYS: a GeoJSON road is a corridor like the built-in ones; same name replaces."""
    kiruna, gallivare = gazetteer("SE").resolve("Kiruna"), gazetteer("SE").resolve("Gällivare")
    assert kiruna and gallivare
    line = [[kiruna.lon, kiruna.lat], [gallivare.lon, gallivare.lat]]
    extra = tmp_path / "roads.geojson"
    extra.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ref": "E 99"}, "geometry": {"type": "LineString", "coordinates": line}},
        {"type": "Feature", "properties": {"ref": "E4"}, "geometry": {"type": "LineString", "coordinates": line}},
    ]}), encoding="utf-8")
    near = towns_near_road("SE", "E99", 5, highways=str(extra))
    assert {"Kiruna", "Gällivare"} <= set(near)
    assert "Kiruna" in towns_near_road("SE", "E4", 5, highways=str(extra))  # replaced
    assert "Kiruna" not in towns_near_road("SE", "E4", 5)  # the built-in one is untouched
    with pytest.raises(UnknownRoad):
        towns_near_road("SE", "E99", 5)
