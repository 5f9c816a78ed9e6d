"""GET /v1/indicators — the catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ioc_common.catalogue import Pillar
from ioc_common.contracts.metrics import IndicatorOut, IndicatorPage
from ioc_common.web import error_responses
from ioc_metrics.api.deps import CatalogueDep, Limit, Offset

router = APIRouter(tags=["catalogue"], responses=error_responses(422))


@router.get(
    "/v1/indicators",
    summary="Danh mục chỉ tiêu / Indicator catalogue",
)
async def list_indicators(
    catalogue: CatalogueDep,
    pillar: Annotated[Pillar | None, Query(description="trụ cột / pillar")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> IndicatorPage:
    found = [i for i in catalogue.indicators if pillar is None or i.pillar is pillar]
    items = [
        IndicatorOut(
            code=i.code,
            name_vi=i.name_vi,
            name_en=i.name_en,
            pillar=i.pillar.value,
            kind=i.kind.value,
            unit=i.unit.value,
            unit_vi=i.unit_vi,
            direction=i.direction.value,
            scale=i.scale,
            reporting_interval_days=i.reporting_interval_days,
            description_vi=i.description_vi,
            description_en=i.description_en,
        )
        for i in found[offset : offset + limit]
    ]
    return IndicatorPage(total=len(found), limit=limit, offset=offset, items=items)
