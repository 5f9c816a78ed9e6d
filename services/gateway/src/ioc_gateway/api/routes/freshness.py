"""GET /v1/freshness — when each unit in scope last reported, per indicator and per district."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ioc_common.reference.units import district_of, province_of, unit_name, within
from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, State
from ioc_gateway.api.views import require_indicator

router = APIRouter(tags=["freshness"])


@router.get(
    "/v1/freshness",
    summary="Độ mới của dữ liệu / Data freshness",
    description="`districts`: mỗi huyện trong phạm vi — lần nhận gần nhất và số chỉ tiêu quá "
    "hạn báo cáo. / `districts`: per district in scope, the latest report received and how "
    "many indicators are overdue.",
    responses={422: ERROR_RESPONSE_SCHEMA, 503: ERROR_RESPONSE_SCHEMA},
)
async def freshness(
    state: State,
    user: CurrentUser,
    indicator: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    wanted = require_indicator(state, indicator).code if indicator is not None else None
    page = await state.metrics_api.freshness(province_of(user.scope), wanted)
    items = [i for i in page.items if within(user.scope, i.unit_code)]
    by_district: dict[str, dict[str, Any]] = {}
    for item in items:
        code = district_of(item.unit_code)
        if code is None:
            continue
        d = by_district.setdefault(
            code,
            {
                "unit_code": code,
                "name": unit_name(code),
                "last_received_at": item.last_received_at,
                "indicators": 0,
                "stale": 0,
            },
        )
        d["indicators"] += 1  # reports of (unit, indicator) in the district
        d["stale"] += int(item.stale)
        d["last_received_at"] = max(d["last_received_at"], item.last_received_at)
    return {
        "items": [i.model_dump(mode="json") for i in items],
        "districts": sorted(by_district.values(), key=lambda d: d["unit_code"]),
    }
