"""GET /v1/units/{code}/scorecard — every indicator of a unit: latest period and its trend."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path

from ioc_common.catalogue import Direction, display_value
from ioc_common.contracts.metrics import ScorecardOut, ScoreOut
from ioc_common.timeutil import Granularity, period_label
from ioc_common.web import error_responses
from ioc_metrics.api.deps import CatalogueDep, Conn, unit_level
from ioc_metrics.facts import part_of
from ioc_metrics.queries import latest_periods, node_values, previous_period

router = APIRouter(tags=["scorecard"], responses=error_responses(422))


@router.get(
    "/v1/units/{code}/scorecard",
    summary="Bảng điểm của một đơn vị / A unit's scorecard",
    description="Mọi chỉ tiêu: kỳ gần nhất có dữ liệu, kỳ trước đó và xu hướng. / Every "
    "indicator: its latest period with data, the period before and the trend.",
)
async def scorecard(
    conn: Conn,
    catalogue: CatalogueDep,
    code: str = Path(pattern=r"^\d{2,5}$", description="mã đơn vị / unit code"),
    granularity: Granularity = Granularity.MONTH,
) -> ScorecardOut:
    level = unit_level(code, "code")
    latest = await latest_periods(conn, level.value, code, granularity)
    items = []
    for ind in catalogue.indicators:
        start = latest.get(ind.code)
        base = dict(
            indicator=ind.code, name_vi=ind.name_vi, name_en=ind.name_en, pillar=ind.pillar.value
        )
        if start is None:
            items.append(
                ScoreOut(
                    **base,
                    period=None,
                    value=None,
                    carried=None,
                    previous_period=None,
                    previous_value=None,
                    trend="unknown",
                    assessment="unknown",
                )
            )
            continue
        prev = previous_period(start, granularity)
        found = await node_values(
            conn, ind.code, level.value, code, granularity, [prev, start], part_of(ind)
        )
        now_v, prev_v = found.get(start), found.get(prev)
        value = display_value(now_v.num, now_v.den, ind.scale) if now_v else None
        before = display_value(prev_v.num, prev_v.den, ind.scale) if prev_v else None
        trend: Literal["up", "down", "flat", "unknown"] = "unknown"
        if value is not None and before is not None:
            trend = "up" if value > before else "down" if value < before else "flat"
        good = "up" if ind.direction is Direction.HIGHER_IS_BETTER else "down"
        assessment: Literal["improving", "worsening", "steady", "unknown"] = (
            "unknown"
            if trend == "unknown"
            else "steady"
            if trend == "flat"
            else "improving"
            if trend == good
            else "worsening"
        )
        items.append(
            ScoreOut(
                **base,
                period=period_label(start, granularity),
                value=value,
                carried=now_v.carried if now_v else None,
                previous_period=period_label(prev, granularity),
                previous_value=before,
                trend=trend,
                assessment=assessment,
            )
        )
    return ScorecardOut(unit_code=code, level=level, granularity=granularity, items=items)
