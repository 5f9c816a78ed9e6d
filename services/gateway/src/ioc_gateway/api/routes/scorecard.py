"""GET /v1/units/{code}/scorecard — every indicator of a unit, with trend and status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from ioc_common.reference.units import level_of, unit_name
from ioc_common.timeutil import Granularity
from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, State, check_unit
from ioc_gateway.api.views import describe, targets_or_none
from ioc_gateway.status import as_of, find_target, status_of

router = APIRouter(tags=["scorecard"])


@router.get(
    "/v1/units/{code}/scorecard",
    summary="Bảng điểm đơn vị / A unit's scorecard",
    responses={403: ERROR_RESPONSE_SCHEMA, 422: ERROR_RESPONSE_SCHEMA, 503: ERROR_RESPONSE_SCHEMA},
)
async def scorecard(
    state: State,
    user: CurrentUser,
    code: Annotated[str, Path(pattern=r"^(\d{2}|\d{3}|\d{5})$")],
    granularity: Granularity = Granularity.MONTH,
) -> dict[str, Any]:
    check_unit(user, code)
    card = await state.metrics_api.scorecard(code, granularity)
    targets, unavailable = await targets_or_none(state)
    level = level_of(code)
    items = []
    for item in card.items:
        ind = state.catalogue.get(item.indicator)
        if ind is None:
            continue
        target = find_target(targets, ind.code, code, level, as_of(item.period))
        items.append(
            item.model_dump(mode="json")
            | describe(ind)
            | status_of(ind, target, item.value, item.period, targets_known=not unavailable)
        )
    return {
        "unit_code": code,
        "unit_name": unit_name(code),
        "level": level,
        "granularity": granularity.value,
        "items": items,
        "unavailable": unavailable,
    }
