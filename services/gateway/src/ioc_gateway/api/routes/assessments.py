"""As-of assessments in the operator's scope: which units were on track, lagging, past the
deadline or missing an indicator at a date (the alerts service's ``GET /v1/assessments``,
read-only: nothing is raised or notified)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from ioc_common.reference.units import unit_name, within
from ioc_common.timeutil import check_query_period
from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, State, check_unit

router = APIRouter(
    prefix="/v1/assessments",
    tags=["assessments"],
    responses={
        401: ERROR_RESPONSE_SCHEMA,
        403: ERROR_RESPONSE_SCHEMA,
        422: ERROR_RESPONSE_SCHEMA,
        503: ERROR_RESPONSE_SCHEMA,
    },
)


@router.get(
    "",
    summary="Đánh giá tại một ngày / Standing at a date",
    description="Đơn vị trong phạm vi đạt, chậm, quá hạn hay thiếu số liệu tại ngày `as_of` "
    "(kỳ gần nhất bắt đầu không muộn hơn ngày đó, đánh giá theo kế hoạch của chính kỳ đó). / "
    "Units in your scope on track, lagging, past the deadline or missing at `as_of` (the most "
    "recent period starting on or before it, judged against the plan for that period).",
)
async def list_assessments(
    state: State,
    user: CurrentUser,
    as_of: Annotated[date, Query(description="YYYY-MM-DD")],
    indicator: Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")],
    unit: Annotated[str | None, Query(pattern=r"^(\d{2}|\d{3}|\d{5})$")] = None,
    level: Literal["province", "district", "commune"] | None = None,
) -> dict[str, Any]:
    check_query_period(as_of, "as_of")
    if unit is not None:
        check_unit(user, unit)
    found = await state.alerts_api.assessments(
        as_of=as_of, indicator=indicator, unit=unit, level=level
    )
    items = [
        i.model_dump(mode="json") | {"unit_name": unit_name(i.unit_code)}
        for i in found.items
        if within(user.scope, i.unit_code)
    ]
    counts = Counter(i["status"] for i in items)
    return {
        "as_of": found.as_of.isoformat(),
        "indicator": found.indicator,
        "items": items,
        "counts": {status: counts.get(status, 0) for status in found.counts},
    }
