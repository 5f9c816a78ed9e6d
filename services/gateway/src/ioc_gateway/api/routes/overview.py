"""GET /v1/overview — per-pillar tiles for a unit: latest value, target and status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ioc_common.contracts.metrics import ScoreOut
from ioc_common.reference.units import level_of, unit_name
from ioc_common.timeutil import Granularity
from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, State, check_unit
from ioc_gateway.api.views import PILLAR_NAMES, describe, targets_or_none
from ioc_gateway.status import as_of, find_target, status_of

router = APIRouter(tags=["overview"])

#: Tried in order: a tile shows the shortest period with data.
_AUTO = (Granularity.MONTH, Granularity.QUARTER, Granularity.YEAR)


@router.get(
    "/v1/overview",
    summary="Tổng quan theo trụ cột / Tiles per pillar",
    description="Giá trị kỳ gần nhất của mỗi chỉ tiêu tại đơn vị (mặc định: phạm vi của bạn), "
    "chỉ tiêu kế hoạch và trạng thái (on_track, warning, critical, no_target, no_data; "
    "unknown khi dịch vụ cảnh báo không phản hồi — xem `unavailable`). / The latest value of "
    "every indicator in the unit (default: your scope), its target and status; `unknown` "
    "while the alerts service is unavailable (listed in `unavailable`).",
    responses={403: ERROR_RESPONSE_SCHEMA, 422: ERROR_RESPONSE_SCHEMA, 503: ERROR_RESPONSE_SCHEMA},
)
async def overview(
    state: State,
    user: CurrentUser,
    unit: Annotated[str | None, Query(pattern=r"^(\d{2}|\d{3}|\d{5})$")] = None,
    granularity: Annotated[
        Granularity | None, Query(description="mặc định: kỳ ngắn nhất có dữ liệu / default auto")
    ] = None,
) -> dict[str, Any]:
    code = check_unit(user, unit or user.scope)
    found: dict[str, tuple[ScoreOut, Granularity]] = {}
    for g in (granularity,) if granularity else _AUTO:
        card = await state.metrics_api.scorecard(code, g)
        for score in card.items:
            if score.indicator not in found and score.period is not None:
                found[score.indicator] = (score, g)
        if len(found) == len(state.catalogue.indicators):
            break
    targets, unavailable = await targets_or_none(state)
    level = level_of(code)
    pillars = []
    for pillar, (name_vi, name_en) in PILLAR_NAMES.items():
        tiles = []
        for ind in state.catalogue.by_pillar(pillar):
            item, g = found.get(ind.code, (None, granularity or Granularity.MONTH))
            period = item.period if item else None
            value = item.value if item else None
            target = find_target(targets, ind.code, code, level, as_of(period))
            tiles.append(
                describe(ind)
                | {
                    "granularity": g.value,
                    "period": period,
                    "value": value,
                    "previous_value": item.previous_value if item else None,
                    "trend": item.trend if item else "unknown",
                    "assessment": item.assessment if item else "unknown",
                }
                | status_of(ind, target, value, period, targets_known=not unavailable)
            )
        pillars.append(
            {"pillar": pillar.value, "name_vi": name_vi, "name_en": name_en, "tiles": tiles}
        )
    return {
        "unit_code": code,
        "unit_name": unit_name(code),
        "level": level,
        "pillars": pillars,
        "unavailable": unavailable,
    }
