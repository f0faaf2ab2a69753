"""Builds the vendored basemap ``nordic.geojson`` from the ``world-atlas`` npm package.

Run once by a developer, never at serve time (the server has no internet and needs none):

    python -m adwatch.web.basemap.build                       # npm pack world-atlas@2.0.2
    python -m adwatch.web.basemap.build --tarball world-atlas-2.0.2.tgz

It decodes ``countries-50m.json`` (TopoJSON: quantized, delta-encoded arcs shared between
neighbours), simplifies each shared arc once (Douglas–Peucker, so neighbouring countries keep
one common border and the map shows no slivers), assembles the chosen countries' rings, clips
them to a bounding box, drops islands too small to see, rounds to 3 decimals (~100 m) and
writes GeoJSON (RFC 7946: lon/lat, exterior rings counter-clockwise) plus PROVENANCE.md.
Another country: ``--ids`` (ISO 3166 numeric, as world-atlas names its features), ``--bbox``
and ``--out``; see PROVENANCE.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import math
import shlex
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = "world-atlas"
VERSION = "2.0.2"
SOURCE_FILE = "countries-50m.json"
# Sweden and its neighbourhood: Norway, Finland, Åland, Denmark, and the Baltic Sea's coasts
# (Estonia, Latvia, Lithuania, Poland, Germany, Russia, Belarus) so the sea has its shores.
DEFAULT_IDS = (752, 578, 246, 248, 208, 233, 428, 440, 616, 276, 643, 112)
DEFAULT_BBOX = (3.0, 53.5, 32.0, 71.5)  # west, south, east, north (degrees)
DEFAULT_TOLERANCE = 0.005  # degrees of latitude (~0.5 km): a 640 px map of Sweden shows ~2 km a pixel
DEFAULT_MIN_AREA_KM2 = 25.0  # islands smaller than this are dropped (Gotland, Öland, Bornholm stay)
DEFAULT_OUT = HERE / "nordic.geojson"

Point = tuple[float, float]  # (lon, lat), as GeoJSON and TopoJSON order them


def fetch_tarball(workdir: Path) -> Path:
    """``npm pack`` downloads the package's tarball from the registry without installing it."""
    done = subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=workdir, check=True,
                          capture_output=True, text=True)
    name = done.stdout.strip().splitlines()[-1]
    return workdir / name


def integrity(tarball: Path) -> str:
    """The tarball's digest as npm's ``integrity`` field writes it (and the registry publishes)."""
    return "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode("ascii")


def read_topology(tarball: Path) -> dict[str, Any]:
    with tarfile.open(tarball, "r:gz") as tar:
        member = tar.extractfile(f"package/{SOURCE_FILE}")
        if member is None:
            raise SystemExit(f"{tarball}: no package/{SOURCE_FILE}")
        with io.TextIOWrapper(member, encoding="utf-8") as text:
            data: dict[str, Any] = json.load(text)
    return data


def decode_arcs(topology: dict[str, Any]) -> list[list[Point]]:
    """Quantized arcs: each position is a delta from the one before, in integer steps of
    ``transform.scale`` from ``transform.translate``. Without a transform they are plain."""
    transform = topology.get("transform")
    arcs: list[list[Point]] = []
    for arc in topology["arcs"]:
        if transform is None:
            arcs.append([(float(p[0]), float(p[1])) for p in arc])
            continue
        (kx, ky), (dx, dy) = transform["scale"], transform["translate"]
        x = y = 0
        points: list[Point] = []
        for position in arc:
            x += position[0]
            y += position[1]
            points.append((x * kx + dx, y * ky + dy))
        arcs.append(points)
    return arcs


def simplify(points: Sequence[Point], tolerance: float, x_scale: float) -> list[Point]:
    """Douglas–Peucker keeping both ends (an arc's ends are where countries meet). Longitude is
    scaled by cos(latitude) so the tolerance means the same distance in both directions."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        ax, ay = points[first][0] * x_scale, points[first][1]
        bx, by = points[last][0] * x_scale, points[last][1]
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        worst, index = -1.0, -1
        for i in range(first + 1, last):
            px, py = points[i][0] * x_scale, points[i][1]
            t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
            away = math.hypot(px - (ax + t * dx), py - (ay + t * dy))
            if away > worst:
                worst, index = away, i
        if worst > tolerance:
            keep[index] = True
            stack.extend(((first, index), (index, last)))
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def ring_from_arcs(indexes: Sequence[int], get_arc: Callable[[int], list[Point]]) -> list[Point]:
    """A ring is arcs end to end; a negative index ``~i`` is arc ``i`` reversed."""
    ring: list[Point] = []
    for index in indexes:
        arc = get_arc(index) if index >= 0 else get_arc(~index)[::-1]
        ring.extend(arc if not ring else arc[1:])
    return ring


def unwrap(ring: list[Point]) -> list[Point]:
    """A ring cut at the antimeridian (Russia's Chukotka) jumps from +180 to -180; shifted by
    360° after each jump it stays continuous, so the box clips it instead of drawing the jump
    as a stripe across the map."""
    out: list[Point] = []
    offset = 0.0
    for lon, lat in ring:
        if out:
            step = lon + offset - out[-1][0]
            if step > 180:
                offset -= 360
            elif step < -180:
                offset += 360
        out.append((lon + offset, lat))
    return out


def clip_ring(ring: list[Point], bbox: tuple[float, float, float, float]) -> list[Point]:
    """Sutherland–Hodgman against the box: exact for the convex box, and a concave coast cut by
    an edge only gains a stretch along that edge, which is the map's edge anyway."""
    west, south, east, north = bbox

    def cut(points: list[Point], inside: Any, cross: Any) -> list[Point]:
        out: list[Point] = []
        for i, current in enumerate(points):
            previous = points[i - 1]
            if inside(current):
                if not inside(previous):
                    out.append(cross(previous, current))
                out.append(current)
            elif inside(previous):
                out.append(cross(previous, current))
        return out

    def at_x(x: float) -> Any:
        return lambda p, q: (x, p[1] + (q[1] - p[1]) * (x - p[0]) / (q[0] - p[0]))

    def at_y(y: float) -> Any:
        return lambda p, q: (p[0] + (q[0] - p[0]) * (y - p[1]) / (q[1] - p[1]), y)

    points = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else list(ring)
    for inside, cross in ((lambda p: p[0] >= west, at_x(west)), (lambda p: p[0] <= east, at_x(east)),
                          (lambda p: p[1] >= south, at_y(south)), (lambda p: p[1] <= north, at_y(north))):
        if not points:
            break
        points = cut(points, inside, cross)
    return points


def signed_area(ring: Sequence[Point]) -> float:
    """Shoelace area in square degrees; positive when counter-clockwise."""
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, [*ring[1:], ring[0]], strict=True)) / 2


def area_km2(ring: Sequence[Point]) -> float:
    if not ring:
        return 0.0
    mid_lat = sum(p[1] for p in ring) / len(ring)
    return abs(signed_area(ring)) * 111.195 ** 2 * math.cos(math.radians(mid_lat))


def finish_ring(ring: list[Point], exterior: bool) -> list[list[float]]:
    """Rounded, without repeated points, closed, oriented as RFC 7946 asks."""
    rounded: list[Point] = []
    for lon, lat in ring:
        point = (round(lon, 3), round(lat, 3))
        if not rounded or rounded[-1] != point:
            rounded.append(point)
    while len(rounded) > 1 and rounded[0] == rounded[-1]:
        rounded.pop()
    if (signed_area(rounded) > 0) != exterior:
        rounded.reverse()
    return [[lon, lat] for lon, lat in [*rounded, rounded[0]]]


def alpha2(numeric: int) -> str | None:
    """ISO 3166 numeric → alpha-2 from CLDR's territory aliases, as Babel ships them."""
    from babel.core import get_global

    found = get_global("territory_aliases").get(f"{numeric:03d}")
    return str(found[0]) if found else None


def build(topology: dict[str, Any], ids: Sequence[int], bbox: tuple[float, float, float, float],
          tolerance: float, min_area_km2: float) -> dict[str, Any]:
    arcs = decode_arcs(topology)
    x_scale = math.cos(math.radians((bbox[1] + bbox[3]) / 2))
    wanted = {f"{i:03d}" for i in ids}
    geometries = [g for g in topology["objects"]["countries"]["geometries"] if str(g.get("id")) in wanted]
    simplified: dict[int, list[Point]] = {}

    def arc(index: int) -> list[Point]:
        if index not in simplified:
            simplified[index] = simplify(arcs[index], tolerance, x_scale)
        return simplified[index]

    features = []
    for geometry in sorted(geometries, key=lambda g: str(g["id"])):
        polygons = ([geometry["arcs"]] if geometry["type"] == "Polygon"
                    else geometry["arcs"] if geometry["type"] == "MultiPolygon" else [])
        kept: list[list[list[list[float]]]] = []
        for polygon in polygons:
            rings = []
            for n, indexes in enumerate(polygon):
                ring = clip_ring(unwrap(ring_from_arcs(indexes, arc)), bbox)
                if len(ring) < 3 or area_km2(ring) < min_area_km2:
                    if n == 0:
                        break  # the exterior is gone: so are its holes
                    continue
                rings.append(finish_ring(ring, exterior=n == 0))
            if rings:
                kept.append(rings)
        if not kept:
            continue
        numeric = int(geometry["id"])
        features.append({
            "type": "Feature",
            "properties": {"name": geometry.get("properties", {}).get("name", ""), "iso_n3": f"{numeric:03d}",
                           "iso_a2": alpha2(numeric)},
            "geometry": {"type": "MultiPolygon", "coordinates": kept},
        })
    return {"type": "FeatureCollection", "bbox": list(bbox), "features": features}


def write_geojson(collection: dict[str, Any], out: Path) -> None:
    """One feature per line: compact, and a rebuild shows as a readable diff."""
    head = {k: v for k, v in collection.items() if k != "features"}
    lines = [json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"features":[']
    features = collection["features"]
    for n, feature in enumerate(features):
        comma = "," if n < len(features) - 1 else ""
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")) + comma)
    lines.append("]}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


PROVENANCE = """# Basemap provenance

`{out}` is generated; do not edit it by hand.

- Package: `{package}` {version} from the npm registry (`npm pack {package}@{version}`), ISC licence,
  Copyright 2013-2019 Michael Bostock. Tarball integrity: `{integrity}`.
- Data: Natural Earth 1:50m Cultural Vectors, Admin 0 – Countries (public domain), as converted
  to TopoJSON by that package; source file `package/{source}`.
- Built with: `{command}`
  (`adwatch/web/basemap/build.py`: TopoJSON decoded in plain Python, no other tools).
- Kept: the countries with ISO 3166 numeric ids {ids}:
  {names};
  clipped to the box west {bbox[0]}, south {bbox[1]}, east {bbox[2]}, north {bbox[3]}
  (degrees); shared arcs simplified once with Douglas–Peucker at {tolerance}° (longitude scaled by
  cos of the box's middle latitude); rings under {min_area} km² dropped; coordinates rounded to
  3 decimals; exterior rings counter-clockwise (RFC 7946). {vertices} vertices, {size} bytes.
- Feature properties: `name` (Natural Earth's English name), `iso_n3`, `iso_a2` (from CLDR's
  territory aliases as Babel ships them). The map (`adwatch/web/mapsvg.py`) fills the feature
  whose `iso_a2` is the home region (ADWATCH_DEFAULT_REGION) differently from its neighbours.

## Another country

Pick the numeric ids of the country and its neighbours (world-atlas uses ISO 3166 numeric
codes as feature ids) and a box around it, and write a file of its own, e.g. Portugal and Spain:

    python -m adwatch.web.basemap.build --ids 620,724,250,504,20 --bbox=-10.5,35,4.5,44.5 \\
        --out adwatch/web/basemap/iberia.geojson

then draw with `mapsvg.load_basemap(path)` and `home="PT"` (the map's home region).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tarball", type=Path, help=f"a {PACKAGE}-{VERSION}.tgz already downloaded")
    parser.add_argument("--ids", default=",".join(str(i) for i in DEFAULT_IDS),
                        help="ISO 3166 numeric ids of the countries to keep, comma-separated")
    parser.add_argument("--bbox", default=",".join(str(v) for v in DEFAULT_BBOX), help="west,south,east,north")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="simplification, degrees")
    parser.add_argument("--min-area-km2", type=float, default=DEFAULT_MIN_AREA_KM2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--provenance", type=Path, default=None,
                        help="default: PROVENANCE.md beside --out (the default file) or OUT.md")
    args = parser.parse_args(argv)
    ids = [int(v) for v in args.ids.split(",") if v.strip()]
    west, south, east, north = (float(v) for v in args.bbox.split(","))
    bbox = (west, south, east, north)
    if not (west < east and south < north):
        parser.error("--bbox: west,south,east,north with west < east and south < north")

    if args.tarball:
        topology, digest = read_topology(args.tarball), integrity(args.tarball)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            tarball = fetch_tarball(Path(tmp))
            topology, digest = read_topology(tarball), integrity(tarball)
    collection = build(topology, ids, bbox, args.tolerance, args.min_area_km2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_geojson(collection, args.out)

    features = collection["features"]
    vertices = sum(len(r) for f in features for p in f["geometry"]["coordinates"] for r in p)
    provenance = args.provenance or (HERE / "PROVENANCE.md" if args.out.resolve() == DEFAULT_OUT
                                     else args.out.with_suffix(".md"))
    command = "python -m adwatch.web.basemap.build" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])
                                                        if (argv if argv is not None else sys.argv[1:]) else "")
    try:
        shown = args.out.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = Path(args.out.name)
    provenance.write_text(PROVENANCE.format(
        out=shown.as_posix(), integrity=digest, package=PACKAGE, version=VERSION, source=SOURCE_FILE, command=command,
        ids=", ".join(f"{i:03d}" for i in ids), names=", ".join(f["properties"]["name"] for f in features),
        bbox=bbox, tolerance=args.tolerance, min_area=args.min_area_km2, vertices=vertices,
        size=args.out.stat().st_size), encoding="utf-8")
    print(f"{args.out}: {len(features)} countries, {vertices} vertices, {args.out.stat().st_size} bytes",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
