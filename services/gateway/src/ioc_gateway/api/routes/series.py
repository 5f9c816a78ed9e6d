"""GET /v1/series — one indicator in one unit over time, with the target's trajectory."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ioc_common.catalogue import Indicator, display_value
from ioc_common.reference.units import (
    LAST_LEGACY_DAY,
    REFORM_DATE,
    level_of,
    unit_name,
    unit_tree,
)
from ioc_common.timeutil import (
    QUERY_MIN_YEAR,
    Granularity,
    check_query_period,
    check_query_range,
    parse_observed,
    period_end,
    period_start,
)
from ioc_common.web import error_responses
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
from ioc_gateway.state import GatewayState
from ioc_gateway.status import as_of, find_target

router = APIRouter(tags=["series"], responses=error_responses(403, 422, 503))

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
    first_label, last_label = label(first, granularity), label(last, granularity)
    data = await state.metrics_api.values(ind.code, code, granularity, first_label, last_label)
    merged = await _predecessors_before_reform(state, ind, code, granularity, first, last)
    targets, unavailable = await targets_or_none(state)
    level = level_of(code)
    points = []
    for period, item in zip(data.periods, data.items, strict=True):
        on = as_of(period)
        target = find_target(targets, ind.code, code, level, on)
        point: dict[str, Any] = {
            "period": period,
            "value": item.value if item else None,
            "carried": item.carried if item else None,
            "expected": round(target.expected_at(on), 4) if target else None,
        }
        if period in merged:
            point |= merged[period]
        points.append(point)
    return describe(ind) | {
        "unit_code": code,
        "unit_name": unit_name(code),
        "granularity": granularity.value,
        "points": points,
        "unavailable": unavailable,
    }


async def _predecessors_before_reform(
    state: GatewayState,
    ind: Indicator,
    code: str,
    granularity: Granularity,
    first: date,
    last: date,
) -> dict[str, dict[str, Any]]:
    """A province formed in 2025 from several (08 = Tuyên Quang + Hà Giang) reads as one
    continuous series: each period that ended before 1 July 2025 is the sum of its predecessor
    provinces' figures (a ratio from their summed parts), marked ``composed_of``. Periods that
    straddle the reform keep the province's own figure."""
    predecessors = [u.code for u in unit_tree().predecessor_provinces(code)]
    if len(predecessors) < 2 or first >= REFORM_DATE:
        return {}
    until = min(last, period_start(LAST_LEGACY_DAY, granularity))
    if period_end(until, granularity) >= REFORM_DATE:
        until = periods_back(until, granularity, 1)
    if until < first:
        return {}
    span = (label(first, granularity), label(until, granularity))
    parts = [await state.metrics_api.values(ind.code, p, granularity, *span) for p in predecessors]
    composed: dict[str, dict[str, Any]] = {}
    for i, period in enumerate(parts[0].periods):
        found = [(p, page.items[i]) for p, page in zip(predecessors, parts, strict=True)]
        reported = [(p, item) for p, item in found if item is not None and item.value is not None]
        if not reported:
            continue
        if ind.is_ratio:
            num = sum(item.numerator or 0.0 for _, item in reported)
            den = sum(item.denominator or 0.0 for _, item in reported)
            value = display_value(num, den, ind.scale)
        else:
            value = sum(item.value or 0.0 for _, item in reported)
        composed[period] = {
            "value": value,
            "carried": any(item.carried for _, item in reported),
            "composed_of": [p for p, _ in reported],
            "complete": len(reported) == len(predecessors),
        }
    return composed
