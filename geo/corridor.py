"""Road corridors: the gazetteer's towns within N km of a road.

The search filter "within X km of the E4" becomes a list of primary towns
(``SearchQuery.primary_towns``), which both stores already match; computing it here keeps
one definition of "near a road" (``geo.highways.distance_km``) for alerts, the CLI and the UI.
The nearest road to a point is ``geo.highways.nearest``; it is not repeated here.
"""

from __future__ import annotations

import math
from functools import lru_cache

from geo.gazetteer import gazetteer
from geo.highways import Road, distance_km, position_km, roads

# A degree of latitude in km (mean Earth radius); used only to pre-filter by a box, so the
# exact distance below decides.
_KM_PER_DEGREE = 111.195


class UnknownRoad(ValueError):
    """The road is not among the built-in roads nor those of the ADWATCH_HIGHWAYS file."""


def find_road(road_name: str, highways: str | None = None) -> Road:
    """The road called ``road_name``, compared without case and spaces ("e 4" is the E4)."""
    wanted = "".join(str(road_name).split()).upper()
    for name, road in roads(highways).items():
        if "".join(name.split()).upper() == wanted:
            return road
    known = ", ".join(sorted(roads(highways)))
    raise UnknownRoad(f"unknown road {road_name!r} (known: {known})")


def towns_near_road(region: str, road_name: str, km: float, highways: str | None = None) -> list[str]:
    """Canonical names of ``region``'s gazetteer towns within ``km`` of the road, in the order
    the road passes them (then by name). ``highways``: the ADWATCH_HIGHWAYS file, if any.
    Raises UnknownRoad, or ValueError for a distance that is not a finite number >= 0."""
    km = float(km)
    if not math.isfinite(km) or km < 0:
        raise ValueError(f"not a distance in km: {km}")
    road = find_road(road_name, highways)
    return list(_towns_near(region.upper(), road.name, km, highways))


@lru_cache(maxsize=256)  # the UI asks for the same few corridors again and again (~0.1 s each uncached)
def _towns_near(region: str, road_name: str, km: float, highways: str | None) -> tuple[str, ...]:
    road = roads(highways)[road_name]
    points = [p for line in road.lines for p in line]
    if not points:
        return ()
    # A box around the road, km wide on every side: most towns are rejected by it at no cost.
    south, north = min(p[0] for p in points), max(p[0] for p in points)
    margin_lat = km / _KM_PER_DEGREE
    widest = max(abs(south - margin_lat), abs(north + margin_lat))
    margin_lon = km / (_KM_PER_DEGREE * max(0.01, math.cos(math.radians(min(89.0, widest)))))
    west, east = min(p[1] for p in points) - margin_lon, max(p[1] for p in points) + margin_lon
    found: dict[str, tuple[int, float]] = {}
    for town in gazetteer(region).towns:
        if not (south - margin_lat <= town.lat <= north + margin_lat and west <= town.lon <= east):
            continue
        if distance_km((town.lat, town.lon), road) <= km:
            where = position_km((town.lat, town.lon), road)
            # Homonyms: one name, the first place along the road.
            found[town.name] = min(where, found.get(town.name, where))
    return tuple(sorted(found, key=lambda name: (found[name], name)))
