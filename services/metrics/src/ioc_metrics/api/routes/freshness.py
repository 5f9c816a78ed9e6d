"""GET /v1/freshness — when each unit last reported each indicator, and whether it is stale."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ioc_common.contracts.metrics import FreshnessOut, FreshnessPage
from ioc_common.timeutil import utc_now
from ioc_common.web import error_responses
from ioc_metrics.api.deps import CatalogueDep, Conn, Limit, Offset, require_indicator
from ioc_metrics.queries import freshness as load_freshness

router = APIRouter(tags=["freshness"], responses=error_responses(422))


@router.get(
    "/v1/freshness",
    summary="Độ mới của dữ liệu / Data freshness per unit and indicator",
    description="`stale`: không nhận báo cáo lâu hơn chu kỳ báo cáo của chỉ tiêu. / `stale`: "
    "nothing received for longer than the indicator's reporting interval. Oldest first.",
)
async def freshness(
    conn: Conn,
    catalogue: CatalogueDep,
    province: str | None = Query(None, pattern=r"^\d{2}$", description="mã tỉnh / province"),
    indicator: str | None = Query(None, description="mã chỉ tiêu / indicator code"),
    limit: Limit = 100,
    offset: Offset = 0,
) -> FreshnessPage:
    if indicator is not None:
        require_indicator(catalogue, indicator)
    total, rows = await load_freshness(conn, province, indicator, limit, offset)
    now = utc_now()
    items = []
    for r in rows:
        ind = catalogue.get(r["indicator"])
        interval = ind.reporting_interval_days if ind else 1
        age = (now - r["last_received_at"]).total_seconds() / 86400
        items.append(
            FreshnessOut(
                indicator=r["indicator"],
                unit_code=r["unit_code"],
                level=r["level"],
                last_observed_at=r["last_observed_at"],
                last_received_at=r["last_received_at"],
                age_days=round(age, 3),
                reporting_interval_days=interval,
                stale=age > interval,
            )
        )
    return FreshnessPage(total=total, limit=limit, offset=offset, items=items)
