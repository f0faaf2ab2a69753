"""Highways as polylines, and the distance from a point to each.

The built-in roads are ``geo/data/highways.yaml`` (ordered waypoints, see its header);
``load_geojson`` reads LineStrings instead (OpenStreetMap, NVDB), to replace or extend them.
Distances use a local equirectangular projection around the point: at town scale (tens
of km) its error is far below the error of the waypoint geometry itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from geo.distance import EARTH_RADIUS_KM
from geo.gazetteer import gazetteer

DATA = Path(__file__).resolve().parent / "data" / "highways.yaml"
Point = tuple[float, float]  # (lat, lon)


class HighwayDataError(ValueError):
    pass


@dataclass(frozen=True)
class Road:
    name: str
    lines: tuple[tuple[Point, ...], ...]  # one or more polylines


@dataclass(frozen=True)
class Nearest:
    road: str
    km: float

    def as_dict(self) -> dict[str, Any]:
        return {"road": self.road, "km": self.km}


def _segment_km(point: Point, a: Point, b: Point) -> float:
    lat0 = math.radians(point[0])
    scale_x = EARTH_RADIUS_KM * math.cos(lat0) * math.pi / 180
    scale_y = EARTH_RADIUS_KM * math.pi / 180

    def xy(p: Point) -> tuple[float, float]:
        return (p[1] - point[1]) * scale_x, (p[0] - point[0]) * scale_y

    ax, ay = xy(a)
    bx, by = xy(b)
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return math.hypot(ax + t * dx, ay + t * dy)


def _project(point: Point, a: Point, b: Point) -> tuple[float, float, float]:
    """(distance from the segment, how far along it, its length), in km around ``point``."""
    lat0 = math.radians(point[0])
    scale_x = EARTH_RADIUS_KM * math.cos(lat0) * math.pi / 180
    scale_y = EARTH_RADIUS_KM * math.pi / 180
    ax, ay = (a[1] - point[1]) * scale_x, (a[0] - point[0]) * scale_y
    bx, by = (b[1] - point[1]) * scale_x, (b[0] - point[0]) * scale_y
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    length = math.sqrt(length2)
    return math.hypot(ax + t * dx, ay + t * dy), t * length, length


def position_km(point: Point, road: Road) -> tuple[int, float]:
    """Where a point lies along a road: (which of its lines, km from that line's first
    waypoint to the nearest spot). Positions on one line order towns along the road."""
    best = (math.inf, 0, 0.0)
    for index, line in enumerate(road.lines):
        travelled = 0.0
        for a, b in zip(line, line[1:], strict=False):
            away, along, length = _project(point, a, b)
            if away < best[0]:
                best = (away, index, travelled + along)
            travelled += length
    return best[1], round(best[2], 1)


def distance_km(point: Point, road: Road) -> float:
    best = math.inf
    for line in road.lines:
        if len(line) == 1:
            best = min(best, _segment_km(point, line[0], line[0]))
        for a, b in zip(line, line[1:], strict=False):
            best = min(best, _segment_km(point, a, b))
    return best


def load_yaml(path: Path = DATA) -> dict[str, Road]:
    """Roads of ordered waypoints; town-name waypoints resolve in the gazetteer of the file's
    own ``country`` (the built-in file says SE: its roads are Swedish), not in a default."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    country = raw.get("country")
    roads = {}
    for name, waypoints in raw.get("roads", {}).items():
        line: list[Point] = []
        for n, waypoint in enumerate(waypoints):
            if isinstance(waypoint, str):
                if not isinstance(country, str):
                    raise HighwayDataError(f"{path}: roads.{name}[{n}]: a town name needs the file's "
                                           "'country:' (ISO 3166 alpha-2), the gazetteer it is looked up in")
                town = gazetteer(country.upper()).resolve(waypoint)
                if town is None:
                    raise HighwayDataError(f"{path}: roads.{name}[{n}]: no town {waypoint!r} in the gazetteer")
                line.append((town.lat, town.lon))
            elif isinstance(waypoint, list) and len(waypoint) == 2:
                line.append((float(waypoint[0]), float(waypoint[1])))
            else:
                raise HighwayDataError(f"{path}: roads.{name}[{n}]: a town name or [lat, lon], not {waypoint!r}")
        roads[str(name)] = Road(str(name), (tuple(line),))
    return roads


def load_geojson(path: Path) -> dict[str, Road]:
    """LineString / MultiLineString features; the road name is the ``ref`` or ``name`` property."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines: dict[str, list[tuple[Point, ...]]] = {}
    for n, feature in enumerate(data.get("features", [])):
        geometry = feature.get("geometry") or {}
        props = feature.get("properties") or {}
        name = str(props.get("ref") or props.get("name") or "").replace(" ", "")
        if not name:
            raise HighwayDataError(f"{path}: features[{n}]: no 'ref' or 'name' property")
        kind = geometry.get("type")
        parts: list[Any] = ([geometry.get("coordinates")] if kind == "LineString"
                            else list(geometry.get("coordinates") or []) if kind == "MultiLineString" else [])
        if not parts or not all(parts):
            raise HighwayDataError(f"{path}: features[{n}]: not a LineString or MultiLineString")
        for part in parts:
            lines.setdefault(name, []).append(tuple((float(lat), float(lon)) for lon, lat, *_ in part))
    return {name: Road(name, tuple(parts)) for name, parts in lines.items()}


@cache
def roads(extra: str | None = None) -> dict[str, Road]:
    """The built-in roads, extended (same name: replaced) by a GeoJSON file."""
    found = load_yaml()
    if extra:
        found.update(load_geojson(Path(extra)))
    return found


def nearest(lat: float, lon: float, only: list[str] | None = None, extra: str | None = None) -> Nearest | None:
    return _nearest(lat, lon, tuple(only) if only else None, extra)


@lru_cache(maxsize=4096)  # a crawl asks for the same few town points again and again (~0.5 ms each)
def _nearest(lat: float, lon: float, only: tuple[str, ...] | None, extra: str | None) -> Nearest | None:
    chosen = [r for name, r in roads(extra).items() if not only or name in only]
    if not chosen:
        return None
    best = min(chosen, key=lambda road: (distance_km((lat, lon), road), road.name))
    return Nearest(best.name, round(distance_km((lat, lon), best), 1))
