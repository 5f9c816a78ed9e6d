"""Unit boundaries for the dashboard's map: a province's GeoJSON, keyed by official unit code,
validated, simplified for the browser and stored versioned like the unit tree.

* ``parse_geojson`` checks a whole file and reports every problem at once, each naming the
  feature and the field (``features[3].properties.code``) in Vietnamese and English; nothing
  is stored unless the whole file is valid.
* ``simplify`` is Douglas–Peucker per ring to a tolerance in degrees, then coordinates rounded
  to ``PRECISION`` decimals: a district drawn on a wall needs tens of metres, not the survey's
  centimetres, and the browser receives a fraction of the points.
* ``GeoStore`` keeps one row per (code, valid_from). Codes are reused across the 2025 reform,
  so a boundary is looked up by (code, date); importing a newer version closes the older one
  the day before, and a boundary never outlives its unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_common import audit
from ioc_common.errors import FieldError, InvalidInput
from ioc_common.reference.units import LAST_LEGACY_DAY, Level, Unit, level_of, unit_tree
from ioc_common.timeutil import utc_now
from ioc_gateway.tables import unit_geometries

SERVICE: Final = "gateway"
#: ~110 m at Vietnam's latitudes: finer than a district or a commune shows on a wall screen.
DEFAULT_TOLERANCE: Final = 0.001
#: 4 decimals of a degree is ~11 m, well under the tolerance.
PRECISION: Final = 4
#: Vietnam and its islands with a margin: a position outside is swapped ([lat, lon]) or in a
#: projected system (VN-2000 metres), not WGS 84 longitude/latitude.
LON_RANGE: Final = (100.0, 120.0)
LAT_RANGE: Final = (5.0, 25.0)
#: Reported problems are capped so a wholly wrong file still gives a readable answer.
MAX_PROBLEMS: Final = 50

Ring = list[tuple[float, float]]
Polygon = list[Ring]


@dataclass(frozen=True, slots=True)
class UnitGeometry:
    """One unit's boundary, ready to store: ``geometry`` is simplified GeoJSON."""

    code: str
    level: Level
    geometry: dict[str, Any]
    source_points: int
    points: int
    valid_to: date | None  # the unit's own end (a legacy commune's 30 June 2025), else None


def _problem(field: str, vi: str, en: str) -> FieldError:
    return FieldError(field, f"{vi} / {en}")


def _unit_on(code: str, on: date) -> Unit | None:
    """The unit a code names on ``on``; a former district counts as a district after the
    reform (the platform still aggregates by it)."""
    tree = unit_tree()
    unit = tree.get(code, on)
    if unit is None and level_of(code) is Level.DISTRICT and tree.is_former_district(code):
        return tree.get(code, LAST_LEGACY_DAY)
    return unit


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _ring(raw: Any, where: str, problems: list[FieldError]) -> Ring | None:
    if not isinstance(raw, list) or len(raw) < 4:
        problems.append(
            _problem(
                where,
                "một vòng cần ít nhất 4 điểm (điểm cuối trùng điểm đầu)",
                "a ring needs at least 4 positions (the last equal to the first)",
            )
        )
        return None
    ring: Ring = []
    for k, position in enumerate(raw):
        if (
            not isinstance(position, list)
            or len(position) < 2
            or not all(_is_number(v) for v in position[:2])
        ):
            problems.append(
                _problem(
                    f"{where}[{k}]",
                    "vị trí phải là [kinh độ, vĩ độ] bằng số",
                    "a position must be [longitude, latitude] as numbers",
                )
            )
            return None
        lon, lat = float(position[0]), float(position[1])
        if not (LON_RANGE[0] <= lon <= LON_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1]):
            problems.append(
                _problem(
                    f"{where}[{k}]",
                    f"[{lon}, {lat}] nằm ngoài Việt Nam: cần [kinh độ, vĩ độ] WGS 84 (EPSG:4326),"
                    " không đảo thứ tự, không phải VN-2000",
                    f"[{lon}, {lat}] lies outside Vietnam: positions must be WGS 84 [longitude,"
                    " latitude] (EPSG:4326), not swapped, not VN-2000",
                )
            )
            return None
        ring.append((lon, lat))
    if ring[0] != ring[-1]:
        problems.append(
            _problem(
                where,
                "vòng chưa khép kín (điểm cuối phải trùng điểm đầu)",
                "the ring is not closed (its last position must equal the first)",
            )
        )
        return None
    return ring


def _polygons(geometry: Any, where: str, problems: list[FieldError]) -> list[Polygon] | None:
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        found = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        problems.append(
            _problem(
                f"{where}.type",
                f"cần Polygon hoặc MultiPolygon, nhận được {found!r}",
                f"expected a Polygon or MultiPolygon, got {found!r}",
            )
        )
        return None
    coordinates = geometry.get("coordinates")
    polygons = [coordinates] if geometry["type"] == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        problems.append(
            _problem(f"{where}.coordinates", "thiếu toạ độ", "the coordinates are missing or empty")
        )
        return None
    found_polygons: list[Polygon] = []
    before = len(problems)
    for i, polygon in enumerate(polygons):
        at = f"{where}.coordinates" + (f"[{i}]" if geometry["type"] == "MultiPolygon" else "")
        if not isinstance(polygon, list) or not polygon:
            problems.append(_problem(at, "đa giác không có vòng nào", "a polygon without any ring"))
            continue
        rings = [_ring(raw, f"{at}[{j}]", problems) for j, raw in enumerate(polygon)]
        found_polygons.append([r for r in rings if r is not None])
    return found_polygons if len(problems) == before else None


def _code(properties: Any, code_field: str, where: str, problems: list[FieldError]) -> str | None:
    if not isinstance(properties, dict) or code_field not in properties:
        problems.append(
            _problem(
                f"{where}.properties.{code_field}",
                "thiếu mã đơn vị hành chính",
                "the administrative unit code is missing",
            )
        )
        return None
    code = properties[code_field]
    if not isinstance(code, str):
        # A code read as a number has lost its leading zero (08 → 8): refuse rather than guess.
        problems.append(
            _problem(
                f"{where}.properties.{code_field}",
                f'mã phải là chuỗi ký tự ("08", không phải {code!r})',
                f'the code must be a string ("08", not {code!r})',
            )
        )
        return None
    try:
        level_of(code)
    except ValueError:
        problems.append(
            _problem(
                f"{where}.properties.{code_field}",
                f"{code!r}: mã tỉnh có 2 chữ số, huyện 3, xã 5",
                f"{code!r}: a province code has 2 digits, a district 3, a commune 5",
            )
        )
        return None
    return code


def parse_geojson(
    document: Any,
    on: date,
    *,
    code_field: str = "code",
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[UnitGeometry]:
    """Every feature of a FeatureCollection as a simplified unit boundary valid from ``on``.
    Raises ``InvalidInput`` listing every problem (at most ``MAX_PROBLEMS``)."""
    problems: list[FieldError] = []
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise InvalidInput(
            "Tệp không phải GeoJSON FeatureCollection",
            "The file is not a GeoJSON FeatureCollection",
            [_problem("type", 'cần "FeatureCollection"', 'expected "FeatureCollection"')],
        )
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput(
            "Tệp GeoJSON không có đối tượng nào",
            "The GeoJSON file has no features",
            [_problem("features", "danh sách rỗng hoặc thiếu", "missing or empty list")],
        )
    seen: dict[str, int] = {}
    found: list[UnitGeometry] = []
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(_problem(f"{where}.type", 'cần "Feature"', 'expected "Feature"'))
            continue
        code = _code(feature.get("properties"), code_field, where, problems)
        polygons = _polygons(feature.get("geometry"), f"{where}.geometry", problems)
        if code is None:
            continue
        field = f"{where}.properties.{code_field}"
        if code in seen:
            problems.append(
                _problem(
                    field,
                    f"mã {code} đã có ở features[{seen[code]}]",
                    f"code {code} already given by features[{seen[code]}]",
                )
            )
            continue
        seen[code] = i
        unit = _unit_on(code, on)
        if unit is None:
            problems.append(
                _problem(
                    field,
                    f"không có đơn vị hành chính mã {code} vào ngày {on:%d/%m/%Y}",
                    f"no administrative unit {code} on {on.isoformat()}",
                )
            )
            continue
        if polygons is None:
            continue
        simplified = simplify(polygons, tolerance)
        level = level_of(code)
        found.append(
            UnitGeometry(
                code=code,
                level=level,
                geometry=_as_geojson(simplified),
                source_points=sum(len(r) for p in polygons for r in p),
                points=sum(len(r) for p in simplified for r in p),
                # A former district outlives its legacy unit as the aggregation district.
                valid_to=None if level is Level.DISTRICT else unit.valid_to,
            )
        )
    if problems:
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        if more:
            shown.append(_problem("…", f"và {more} lỗi khác", f"and {more} more problems"))
        raise InvalidInput(
            f"Tệp GeoJSON có {len(problems)} lỗi; chưa lưu gì",
            f"The GeoJSON file has {len(problems)} problems; nothing was stored",
            shown,
        )
    return found


# --- simplification ------------------------------------------------------------------------


def _distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """From ``p`` to the segment ``a``–``b`` (planar: a district spans a fraction of a degree)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx == 0 and dy == 0:
        return math.hypot(p[0] - a[0], p[1] - a[1])
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)


def douglas_peucker(line: Sequence[tuple[float, float]], tolerance: float) -> Ring:
    """The points of an open line kept by Douglas–Peucker (iterative: rings of survey data
    hold tens of thousands of points, deeper than Python's recursion limit)."""
    if len(line) < 3:
        return list(line)
    keep = [False] * len(line)
    keep[0] = keep[-1] = True
    stack = [(0, len(line) - 1)]
    while stack:
        first, last = stack.pop()
        worst, index = -1.0, -1
        for k in range(first + 1, last):
            d = _distance(line[k], line[first], line[last])
            if d > worst:
                worst, index = d, k
        if index >= 0 and worst > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, kept in zip(line, keep, strict=True) if kept]


def _simplify_ring(ring: Ring, tolerance: float) -> Ring:
    """A closed ring split at its point farthest from the start (Douglas–Peucker needs two
    distinct ends), both halves simplified, the result closed again."""
    start = ring[0]
    far = max(
        range(len(ring)), key=lambda k: math.hypot(ring[k][0] - start[0], ring[k][1] - start[1])
    )
    kept = douglas_peucker(ring[: far + 1], tolerance)[:-1] + douglas_peucker(ring[far:], tolerance)
    rounded: Ring = []
    for lon, lat in kept:
        point = (round(lon, PRECISION), round(lat, PRECISION))
        if not rounded or rounded[-1] != point:  # rounding can merge neighbours
            rounded.append(point)
    if rounded[0] != rounded[-1]:
        rounded.append(rounded[0])
    return rounded


def simplify(polygons: Iterable[Polygon], tolerance: float) -> list[Polygon]:
    """Each ring simplified; holes and islands smaller than the tolerance are dropped, but a
    unit always keeps its largest outer ring (rounded only) so it never vanishes from the map."""
    source = [p for p in polygons if p]
    out: list[Polygon] = []
    for polygon in source:
        outer = _simplify_ring(polygon[0], tolerance)
        if len(outer) < 4:
            continue
        holes = [
            r for r in (_simplify_ring(hole, tolerance) for hole in polygon[1:]) if len(r) >= 4
        ]
        out.append([outer, *holes])
    if not out:
        largest = max((p[0] for p in source), key=lambda r: abs(_area(r)))
        out = [[_simplify_ring(largest, 0.0)]]
    return out


def _area(ring: Ring) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise(ring)) / 2


def _as_geojson(polygons: list[Polygon]) -> dict[str, Any]:
    coords = [[[list(p) for p in ring] for ring in polygon] for polygon in polygons]
    if len(coords) == 1:
        return {"type": "Polygon", "coordinates": coords[0]}
    return {"type": "MultiPolygon", "coordinates": coords}


# --- storage -------------------------------------------------------------------------------


def valid_on(on: date) -> sa.ColumnElement[bool]:
    t = unit_geometries.c
    return sa.and_(t.valid_from <= on, sa.or_(t.valid_to.is_(None), t.valid_to >= on))


class GeoStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def import_(
        self, items: Sequence[UnitGeometry], valid_from: date, *, source: str, actor: str
    ) -> int:
        """Store every boundary valid from ``valid_from`` in one transaction: the same version
        is replaced, an earlier one closed the day before, a later one bounds this one."""
        t = unit_geometries.c
        now = utc_now()
        async with self._sessions() as session, session.begin():
            for item in items:
                later = await session.scalar(
                    sa.select(sa.func.min(t.valid_from)).where(
                        t.unit_code == item.code, t.valid_from > valid_from
                    )
                )
                ends = [d for d in (item.valid_to,) if d is not None]
                if later is not None:
                    ends.append(later - timedelta(days=1))
                await session.execute(
                    unit_geometries.update()
                    .where(
                        t.unit_code == item.code,
                        t.valid_from < valid_from,
                        sa.or_(t.valid_to.is_(None), t.valid_to >= valid_from),
                    )
                    .values(valid_to=valid_from - timedelta(days=1))
                )
                row = {
                    "valid_to": min(ends) if ends else None,
                    "level": item.level.value,
                    "geometry": item.geometry,
                    "source_points": item.source_points,
                    "points": item.points,
                    "source": source[:256],
                    "imported_at": now,
                    "imported_by": actor,
                }
                await session.execute(
                    insert(unit_geometries)
                    .values(unit_code=item.code, valid_from=valid_from, **row)
                    .on_conflict_do_update(index_elements=[t.unit_code, t.valid_from], set_=row)
                )
            await audit.record(
                session,
                service=SERVICE,
                actor=actor,
                action="geo.import",
                target=source[:256],
                detail={
                    "valid_from": valid_from.isoformat(),
                    "units": [i.code for i in items][:500],
                    "source_points": sum(i.source_points for i in items),
                    "points": sum(i.points for i in items),
                },
            )
        return len(items)

    async def geometries(self, codes: Iterable[str], on: date) -> dict[str, dict[str, Any]]:
        """The boundary valid on ``on`` of each of ``codes`` that has one."""
        wanted = list(codes)
        if not wanted:
            return {}
        t = unit_geometries.c
        async with self._sessions() as session:
            rows = await session.execute(
                sa.select(t.unit_code, t.geometry).where(t.unit_code.in_(wanted), valid_on(on))
            )
            return {code: geometry for code, geometry in rows}

    async def listing(self, on: date) -> list[dict[str, Any]]:
        """What is stored for ``on``: code, level, validity and point counts."""
        t = unit_geometries.c
        async with self._sessions() as session:
            rows = await session.execute(
                sa.select(
                    t.unit_code,
                    t.level,
                    t.valid_from,
                    t.valid_to,
                    t.source_points,
                    t.points,
                    t.source,
                )
                .where(valid_on(on))
                .order_by(t.unit_code)
            )
            return [dict(r._mapping) for r in rows]
