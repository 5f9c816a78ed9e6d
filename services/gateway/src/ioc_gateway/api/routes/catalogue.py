"""GET /v1/indicators — the catalogue the dashboard labels its tiles with, and which indicators
have a target in the operator's area (the district table opens on one of those)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ioc_common.catalogue.targets import TargetRule
from ioc_common.reference.units import Level, level_of, province_of, unit_tree, within
from ioc_common.timeutil import vietnam_today
from ioc_gateway.api.deps import CurrentUser, State
from ioc_gateway.api.views import PILLAR_NAMES, describe, targets_or_none
from ioc_gateway.status import find_target

router = APIRouter(tags=["catalogue"])


def _targeted(targets: list[TargetRule], scope: str) -> tuple[set[str], set[str]]:
    """Indicators with a target for the scope's province or one of its districts in scope,
    and those with one for a district (their district rows are coloured by status)."""
    today = vietnam_today()
    province = province_of(scope)
    districts = [
        d.code for d in unit_tree().districts_of_province(province, today) if within(scope, d.code)
    ]
    units = [(province, "province")] if level_of(scope) is Level.PROVINCE else []
    units += [(d, "district") for d in districts]
    found, by_district = set(), set()
    for target in targets:
        applied = [lv for u, lv in units if find_target([target], target.indicator, u, lv, today)]
        if applied:
            found.add(target.indicator)
        if "district" in applied:
            by_district.add(target.indicator)
    return found, by_district


@router.get(
    "/v1/indicators",
    summary="Danh mục chỉ tiêu theo trụ cột / Indicators by pillar",
    description="`has_target`: có chỉ tiêu kế hoạch cho tỉnh hoặc một huyện trong phạm vi của "
    "bạn (null khi dịch vụ cảnh báo không phản hồi); `has_district_target`: có chỉ tiêu cho "
    "một huyện. / `has_target`: a target applies to your province or a district in your scope "
    "(null while the alerts service is unavailable); `has_district_target`: to a district.",
)
async def indicators(state: State, user: CurrentUser) -> dict[str, Any]:
    pillars = [
        {"pillar": p.value, "name_vi": vi, "name_en": en} for p, (vi, en) in PILLAR_NAMES.items()
    ]
    targets, unavailable = await targets_or_none(state)
    targeted, district_targeted = _targeted(targets, user.scope)
    items = [
        describe(i)
        | {
            "reporting_interval_days": i.reporting_interval_days,
            "description_vi": i.description_vi,
            "description_en": i.description_en,
            "has_target": None if unavailable else i.code in targeted,
            "has_district_target": None if unavailable else i.code in district_targeted,
        }
        for i in state.catalogue.indicators
    ]
    return {"pillars": pillars, "items": items, "unavailable": unavailable}
