"""GET /v1/series — one indicator in one unit over time, with the target's trajectory."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ioc_common.reference.units import level_of, unit_name
from ioc_common.timeutil import (
    QUERY_MIN_YEAR,
    Granularity,
    check_query_period,
    check_query_range,
    parse_observed,
    period_start,
)
from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, State, check_unit
from ioc_gateway.api.views import (
    current_period,
    describe,
    invalid,
    label,
    periods_back,
    require_indicator,
    targets_or_none,
)
from ioc_gateway.status import as_of, find_target

router = APIRouter(tags=["series"])

_Code = Annotated[str | None, Query(pattern=r"^(\d{2}|\d{3}|\d{5})$")]


def _period(text: str | None, granularity: Granularity, field: str) -> date | None:
    if not text:
        return None
    try:
        return period_start(parse_observed(text)[0], granularity)
    except ValueError as exc:
        raise invalid(field, str(exc)) from None


@router.get(
    "/v1/series",
    summary="Chuỗi thời gian / Time series of an indicator in a unit",
    description="Mặc định 12 kỳ gần nhất; `expected`: giá trị theo lộ trình chỉ tiêu. / "
    "Default: the last 12 periods; `expected`: the target trajectory's value.",
    responses={403: ERROR_RESPONSE_SCHEMA, 422: ERROR_RESPONSE_SCHEMA, 503: ERROR_RESPONSE_SCHEMA},
)
async def series(
    state: State,
    user: CurrentUser,
    indicator: Annotated[str, Query(max_length=64)],
    unit: _Code = None,
    granularity: Granularity = Granularity.MONTH,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
) -> dict[str, Any]:
    ind = require_indicator(state, indicator)
    code = check_unit(user, unit or user.scope)
    first = _period(from_, granularity, "from")
    last = _period(to, granularity, "to") or current_period(granularity)
    if first is None:  # the last 12 periods, not before the first year a query may ask about
        check_query_period(last, "to")
        first = max(periods_back(last, granularity, 11), date(QUERY_MIN_YEAR, 1, 1))
    check_query_range(first, last, granularity)
    data = await state.metrics_api.values(
        ind.code, code, granularity, label(first, granularity), label(last, granularity)
    )
    targets, unavailable = await targets_or_none(state)
    level = level_of(code)
    points = []
    for period, item in zip(data.periods, data.items, strict=True):
        on = as_of(period)
        target = find_target(targets, ind.code, code, level, on)
        points.append(
            {
                "period": period,
                "value": item.value if item else None,
                "carried": item.carried if item else None,
                "expected": round(target.expected_at(on), 4) if target else None,
            }
        )
    return describe(ind) | {
        "unit_code": code,
        "unit_name": unit_name(code),
        "granularity": granularity.value,
        "points": points,
        "unavailable": unavailable,
    }
