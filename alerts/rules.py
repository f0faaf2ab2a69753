"""The three alert rules, as plain functions of ads (dicts as stored) and the roads.

Each returns alert records (``alerts.model.alert``) or nothing; storing them, once per
key, and delivering them is the engine's job (``alerts/engine.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from alerts.model import alert
from config.alerts_schema import NewNumberInTown, NewNumberNearHighway, NumberMovesAlongHighway
from geo.gazetteer import fold
from geo.highways import Road, distance_km, position_km

_COMPASS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")


def seen_at(ad: dict[str, Any]) -> str:
    """When the ad says it was posted, else when adwatch first saw it: the date of a sighting."""
    return str(ad.get("posted_at") or ad.get("first_seen_at") or "")


@lru_cache(maxsize=65536)
def _km(lat: float, lon: float, road: Road) -> float:
    return round(distance_km((lat, lon), road), 1)


def _nearest(ad: dict[str, Any], roads: dict[str, Road], only: list[str]) -> tuple[str, float] | None:
    if ad.get("lat") is None or ad.get("lon") is None:
        return None
    chosen = [road for name, road in roads.items() if not only or name in only]
    if not chosen:
        return None
    return min(((road.name, _km(ad["lat"], ad["lon"], road)) for road in chosen), key=lambda rk: (rk[1], rk[0]))


def _town_matches(ad: dict[str, Any], wanted: list[str]) -> str | None:
    """The first of the ad's towns (primary first) on the list, compared folded."""
    folded = {fold(name): name for name in wanted}
    names = [ad.get("town"), *(t.get("name") for t in ad.get("towns") or [])]
    for name in names:
        if name and fold(name) in folded:
            return str(name)
    return None


def new_number_near_highway(name: str, rule: NewNumberNearHighway, phone: str, ad: dict[str, Any],
                            roads: dict[str, Road], episode: str | None = None) -> dict[str, Any] | None:
    if float(ad.get("indicator_score") or 0) < rule.min_score:
        return None
    if rule.towns and _town_matches(ad, rule.towns) is None:
        return None
    if rule.counties and fold(ad.get("county") or "") not in {fold(c) for c in rule.counties}:
        return None
    near = _nearest(ad, roads, rule.roads)
    if near is None or near[1] > rule.max_km:
        return None
    road, km = near
    return alert(name, rule.type, phone, ad, town=ad.get("town"), road=road, km=km, episode=episode,
                 details={"first_seen": seen_at(ad), "score": ad.get("indicator_score") or 0.0,
                          "max_km": rule.max_km})


def new_number_in_town(name: str, rule: NewNumberInTown, phone: str, ad: dict[str, Any],
                       episode: str | None = None) -> dict[str, Any] | None:
    if float(ad.get("indicator_score") or 0) < rule.min_score:
        return None
    town = _town_matches(ad, rule.towns)
    if town is None:
        return None
    return alert(name, rule.type, phone, ad, town=town, road=ad.get("road"), km=ad.get("road_km"), episode=episode,
                 details={"first_seen": seen_at(ad), "score": ad.get("indicator_score") or 0.0})


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> str:
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlon = math.radians(b[1] - a[1])
    x = math.sin(dlon) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    degrees = (math.degrees(math.atan2(x, y)) + 360) % 360
    return _COMPASS[int((degrees + 22.5) // 45) % 8]


def _stops(ads: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The number's sightings with a place and a readable date, oldest first."""
    stops = []
    for ad in ads:
        if not ad.get("town") or ad.get("lat") is None or ad.get("lon") is None:
            continue
        try:
            moment = _moment(seen_at(ad))
        except ValueError:  # a date no parser could read: this sighting cannot be placed in time
            continue
        stops.append({"town": ad["town"], "lat": ad["lat"], "lon": ad["lon"], "at": seen_at(ad), "ad": ad["id"],
                      "moment": moment})
    stops.sort(key=lambda s: (s["moment"], s["ad"]))
    return stops


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _first_window(stops: list[dict[str, Any]], days: float, towns: int) -> list[dict[str, Any]] | None:
    """The earliest run of sightings within ``days`` that covers ``towns`` different towns;
    each town once, at its first sighting in the run."""
    span = timedelta(days=days)
    times = [s["moment"] for s in stops]
    for start in range(len(stops)):
        seen: dict[str, dict[str, Any]] = {}
        for end in range(start, len(stops)):
            if times[end] - times[start] > span:
                break
            seen.setdefault(stops[end]["town"], stops[end])
            if len(seen) >= towns:
                return list(seen.values())
    return None


def number_moves_along_highway(name: str, rule: NumberMovesAlongHighway, phone: str, ads: list[dict[str, Any]],
                               roads: dict[str, Road]) -> list[dict[str, Any]]:
    """One alert per road along which the number reached ``min_towns`` towns in ``within_days``."""
    stops = _stops(ads)
    if len({s["town"] for s in stops}) < rule.min_towns:
        return []
    found = []
    for road in sorted((r for n, r in roads.items() if not rule.roads or n in rule.roads), key=lambda r: r.name):
        near = [s | {"km": _km(s["lat"], s["lon"], road)} for s in stops]
        near = [s for s in near if s["km"] <= rule.max_km]
        window = _first_window(near, rule.within_days, rule.min_towns)
        if window is None:
            continue
        positions = [position_km((s["lat"], s["lon"]), road) for s in window]
        along = [km for _, km in positions]
        one_line = len({line for line, _ in positions}) == 1
        steady = one_line and (along == sorted(along) or along == sorted(along, reverse=True))
        first, last = window[0], window[-1]
        found.append(alert(
            name, rule.type, phone, next(ad for ad in ads if ad["id"] == last["ad"]), town=last["town"],
            road=road.name, km=max(s["km"] for s in window), key_extra=road.name,
            details={"towns": [{"town": s["town"], "at": s["at"], "ad": s["ad"], "km": s["km"]} for s in window],
                     "direction": _bearing((first["lat"], first["lon"]), (last["lat"], last["lon"])),
                     "steady": steady, "within_days": rule.within_days}))
    return found
