"""GET /v1/districts — the districts of the operator's province for one indicator, coloured by
status against target (a district operator sees their own row only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ioc_common.reference.units import Level, level_of, province_of, unit_name, within
from ioc_common.timeutil import Granularity
from ioc_common.web import error_responses
from ioc_gateway.api.deps import CurrentUser, State
from ioc_gateway.api.views import (
    current_period,
    describe,
    label,
    require_indicator,
    targets_or_none,
)
from ioc_gateway.status import as_of, find_target, status_of

router = APIRouter(tags=["districts"], responses=error_responses(403, 422, 503))


@router.get(
    "/v1/districts",
    summary="Bảng huyện theo một chỉ tiêu / District table for an indicator",
    description="Kỳ mặc định: kỳ gần nhất có dữ liệu của tỉnh. / Default period: the "
    "province's latest period with data.",
)
async def districts(
    state: State,
    user: CurrentUser,
    indicator: Annotated[str, Query(max_length=64, description="mã chỉ tiêu / indicator")],
    granularity: Granularity = Granularity.MONTH,
    period: Annotated[str | None, Query(max_length=10, description="2024-05, 2024-Q2 …")] = None,
) -> dict[str, Any]:
    ind = require_indicator(state, indicator)
    province = province_of(user.scope)
    if period is None:
        card = await state.metrics_api.scorecard(province, granularity)
        latest = next((i.period for i in card.items if i.indicator == ind.code), None)
        period = latest or label(current_period(granularity), granularity)
    ranking = await state.metrics_api.rankings(ind.code, province, granularity, period)
    targets, unavailable = await targets_or_none(state)
    on = as_of(ranking.period)
    items = []
    for row in ranking.items:
        if not within(user.scope, row.unit_code):
            continue
        target = find_target(targets, ind.code, row.unit_code, "district", on)
        items.append(
            row.model_dump(mode="json")
            | status_of(ind, target, row.value, ranking.period, targets_known=not unavailable)
        )
    whole_province = level_of(user.scope) is Level.PROVINCE
    province_target = find_target(targets, ind.code, province, "province", on)
    return describe(ind) | {
        "province": province,
        "province_name": unit_name(province),
        "granularity": ranking.granularity.value,
        "period": ranking.period,
        "province_value": ranking.province_value if whole_province else None,
        "province_status": status_of(
            ind,
            province_target,
            ranking.province_value,
            ranking.period,
            targets_known=not unavailable,
        )
        if whole_province
        else None,
        "items": items,
        "unavailable": unavailable,
    }
