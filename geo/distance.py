"""adwatch's one distance on the globe: great-circle km, the formula Elasticsearch's ``geo_distance`` uses (arc)."""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088  # the mean radius Elasticsearch uses


def great_circle_km(lat1: float | None, lon1: float | None, lat2: float | None, lon2: float | None) -> float | None:
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
