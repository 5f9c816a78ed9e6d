"""GET /v1/geo — the boundaries of the districts (or communes) in the operator's scope, valid on
a date, as simplified GeoJSON for the dashboard's map.

``units`` lists every unit of the level in scope (code and name), whether or not a boundary
was imported (``ioc geo import``): with none the dashboard draws a schematic tile map of those
units instead, so a wall screen is never blank. The colours are not here: the map takes each
unit's status from ``GET /v1/districts``, the one place the dashboard judges a value."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ioc_common.reference.units import REFORM_DATE, Unit, province_of, unit_tree, within
from ioc_common.timeutil import vietnam_today
from ioc_common.web import error_responses
from ioc_gateway.api.deps import CurrentUser, State
from ioc_gateway.geo import GeoStore

router = APIRouter(tags=["geo"], responses=error_responses(422, 503))


class GeoLevel(StrEnum):
    DISTRICT = "district"
    COMMUNE = "commune"


def units_in_scope(scope: str, level: GeoLevel, on: date) -> list[Unit]:
    """The districts (former districts after the reform) or communes within ``scope`` on
    ``on``. A 2025 province on a legacy day also covers the provinces it absorbed; a former
    province's scope after the reform is read in the province that absorbed it."""
    tree = unit_tree()
    province = province_of(scope, on)
    if tree.get(province, on) is None:
        province = tree.successor_province(province) or province
    provinces = [province]
    if on < REFORM_DATE:
        provinces += [p.code for p in tree.predecessor_provinces(province) if p.code != province]
    districts = [
        d
        for p in provinces
        if tree.get(p, on) is not None
        for d in tree.districts_of_province(p, on)
        if within(scope, d.code, on)
    ]
    if level is GeoLevel.DISTRICT:
        return districts
    communes = {c.code: c for d in districts for c in tree.children(d.code, on)}
    return [c for code, c in sorted(communes.items()) if within(scope, code, on)]


@router.get(
    "/v1/geo",
    summary="Ranh giới đơn vị cho bản đồ / Unit boundaries for the map",
    description="GeoJSON FeatureCollection (WGS 84, đã đơn giản hoá / simplified); `units`: mọi "
    "đơn vị của cấp trong phạm vi, `missing`: đơn vị chưa có ranh giới / every unit of the "
    "level in scope, and those without a boundary.",
)
async def geo(
    state: State,
    user: CurrentUser,
    level: GeoLevel = GeoLevel.DISTRICT,
    on: Annotated[
        date | None,
        Query(alias="date", description="hiệu lực vào ngày / valid on (default: today)"),
    ] = None,
) -> dict[str, Any]:
    day = on or vietnam_today()
    units = units_in_scope(user.scope, level, day)
    shapes = await GeoStore(state.sessions).geometries((u.code for u in units), day)
    features = [
        {
            "type": "Feature",
            "id": u.code,
            "properties": {"code": u.code, "name": u.name, "level": level.value},
            "geometry": shapes[u.code],
        }
        for u in units
        if u.code in shapes
    ]
    return {
        "type": "FeatureCollection",
        "level": level.value,
        "date": day.isoformat(),
        "features": features,
        "units": [{"code": u.code, "name": u.name} for u in units],
        "missing": [u.code for u in units if u.code not in shapes],
    }
