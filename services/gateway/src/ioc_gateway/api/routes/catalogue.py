"""GET /v1/indicators — the catalogue the dashboard labels its tiles with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ioc_gateway.api.deps import CurrentUser, State
from ioc_gateway.api.views import PILLAR_NAMES, describe

router = APIRouter(tags=["catalogue"])


@router.get("/v1/indicators", summary="Danh mục chỉ tiêu theo trụ cột / Indicators by pillar")
async def indicators(state: State, _user: CurrentUser) -> dict[str, Any]:
    pillars = [
        {"pillar": p.value, "name_vi": vi, "name_en": en} for p, (vi, en) in PILLAR_NAMES.items()
    ]
    items = [
        describe(i)
        | {
            "reporting_interval_days": i.reporting_interval_days,
            "description_vi": i.description_vi,
            "description_en": i.description_en,
        }
        for i in state.catalogue.indicators
    ]
    return {"pillars": pillars, "items": items}
