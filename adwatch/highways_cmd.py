"""``adwatch highways near|list``: the distance from a point to the nearest highway."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from adwatch.output import fail, json_text, out, visible
from adwatch.settings import load_settings

highways_app = typer.Typer(help="European routes and main roads (geo/data/highways.yaml).", no_args_is_help=True)


def _extra() -> str | None:
    value = load_settings().get("ADWATCH_HIGHWAYS")
    return str(value) if value else None


def _roads_option(value: str | None) -> list[str] | None:
    from geo.highways import roads

    if not value:
        return None
    wanted = [r.strip().upper() for r in value.split(",") if r.strip()]
    unknown = [r for r in wanted if r not in roads(_extra())]
    if unknown:
        raise ValueError(f"--roads: unknown {', '.join(unknown)} (see 'adwatch highways list')")
    return wanted


def _answer(lat: Any, lon: Any, only: list[str] | None) -> dict[str, Any]:
    from geo.highways import nearest

    lat, lon = float(lat), float(lon)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"not a latitude and longitude: {lat}, {lon}")
    found = nearest(lat, lon, only, _extra())
    return found.as_dict() if found else {"road": None, "km": None}


@highways_app.command("near")
def near(
    lat: Annotated[float | None, typer.Argument(help="Latitude (WGS84).")] = None,
    lon: Annotated[float | None, typer.Argument(help="Longitude (WGS84).")] = None,
    roads: Annotated[str | None, typer.Option(help="Only these roads, e.g. E4,E6.")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help='Read {"id","lat","lon"} lines on stdin.')] = False,
) -> None:
    """Nearest road and distance in km: {"road", "km"}; with --jsonl, one {"id","road","km"} per line."""
    try:
        only = _roads_option(roads)
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
    if not jsonl:
        if lat is None or lon is None:
            fail("give LAT LON, or --jsonl with lines on stdin")
            raise typer.Exit(2)
        try:
            print(json_text(_answer(lat, lon, only)))
        except ValueError as exc:
            fail(str(exc))
            raise typer.Exit(2) from None
        return
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        ad_id = None
        try:
            item = json.loads(line)
            ad_id = item.get("id") if isinstance(item, dict) else None
            missing = [k for k in ("lat", "lon") if k not in item]
            if missing:
                raise ValueError(f"missing {' and '.join(missing)}")
            result = {"id": ad_id, **_answer(item["lat"], item["lon"], only)}
        except (ValueError, TypeError, AttributeError) as exc:
            result = {"id": ad_id, "error": f"line {number}: {exc}"}
        sys.stdout.write(json_text(result) + "\n")


@highways_app.command("list")
def list_roads(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The roads adwatch knows, with their waypoints' count and length."""
    from geo.distance import great_circle_km
    from geo.highways import roads

    rows = []
    for name, road in roads(_extra()).items():
        length = sum(great_circle_km(a[0], a[1], b[0], b[1]) or 0.0
                     for line in road.lines for a, b in zip(line, line[1:], strict=False))
        rows.append({"road": name, "points": sum(len(line) for line in road.lines), "km": round(length)})
    if as_json:
        print(json_text(rows))
        return
    for row in rows:
        # Road names may come from a GeoJSON export (ADWATCH_HIGHWAYS): shown, never interpreted.
        out.print(visible(f"{row['road']:>5}  {row['points']:>3} points  ~{row['km']} km", False), markup=False)
