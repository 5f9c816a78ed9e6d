"""Small GeoJSON files made by the tests (shipped like ``ioc_gateway.testing``): one square-ish
district per code in a grid around Tuyên Quang, with densely surveyed, slightly wavy edges (so
simplification has points to drop) and, for the first code, an islet below the tolerance."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

ORIGIN = (104.9, 22.6)  # lon, lat of the grid's north-west corner
SIZE = 0.12  # degrees per district
POINTS_PER_EDGE = 80
WAVE = 0.0002  # degrees: survey noise well below the default tolerance (0.001)


def _edge(a: tuple[float, float], b: tuple[float, float]) -> list[list[float]]:
    points = []
    for k in range(POINTS_PER_EDGE):
        t = k / POINTS_PER_EDGE
        wiggle = WAVE * math.sin(k * 1.7)
        points.append([a[0] + (b[0] - a[0]) * t + wiggle, a[1] + (b[1] - a[1]) * t - wiggle])
    return points


def square(lon: float, lat: float, size: float = SIZE) -> list[list[float]]:
    """A closed ring: north-west corner at (lon, lat), counter-clockwise."""
    corners = [(lon, lat), (lon, lat - size), (lon + size, lat - size), (lon + size, lat)]
    ring: list[list[float]] = []
    for i, corner in enumerate(corners):
        ring += _edge(corner, corners[(i + 1) % 4])
    return [*ring, ring[0]]


def district_grid(codes: list[str], columns: int = 4) -> dict[str, Any]:
    features = []
    for i, code in enumerate(codes):
        lon = ORIGIN[0] + (i % columns) * SIZE
        lat = ORIGIN[1] - (i // columns) * SIZE
        polygons = [[square(lon, lat)]]
        if i == 0:
            polygons.append([square(lon - 0.01, lat, size=0.0004)])  # an islet: dropped
        features.append(
            {
                "type": "Feature",
                "properties": {"code": code, "ten": f"đơn vị {code}"},
                "geometry": {"type": "MultiPolygon", "coordinates": polygons},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path
