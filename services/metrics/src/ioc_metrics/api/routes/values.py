"""GET /v1/values — one indicator for one unit over a range of periods."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ioc_common.catalogue import display_value
from ioc_common.contracts.metrics import PointOut, SeriesOut
from ioc_common.events import AggregationLevel
from ioc_common.timeutil import check_query_range, period_label
from ioc_common.web import error_responses
from ioc_metrics.api.deps import (
    CatalogueDep,
    Conn,
    GranularityQ,
    Limit,
    Offset,
    invalid,
    period_param,
    require_indicator,
    unit_level,
)
from ioc_metrics.facts import part_of
from ioc_metrics.queries import as_float, node_values, periods_between

router = APIRouter(tags=["values"], responses=error_responses(422))


@router.get(
    "/v1/values",
    summary="Chuỗi giá trị của một chỉ tiêu tại một đơn vị / An indicator's values for a unit",
    description=(
        "Một mục mỗi kỳ từ `from` đến `to`; chỉ tiêu tồn không báo cáo trong kỳ mang giá trị kỳ "
        "trước (`carried`). / One item per period from `from` to `to`; a stock not reported in "
        "a period carries its latest earlier value (`carried`)."
    ),
)
async def values(
    conn: Conn,
    catalogue: CatalogueDep,
    granularity: GranularityQ,
    indicator: str = Query(description="mã chỉ tiêu / indicator code"),
    unit: str = Query(description="mã đơn vị / unit code", pattern=r"^\d{2,5}$"),
    level: Annotated[
        AggregationLevel | None, Query(description="cấp / level (checked against unit)")
    ] = None,
    from_: str = Query(alias="from", description="kỳ đầu / first period: 2024-05, 2024-Q2 ..."),
    to: str = Query(description="kỳ cuối / last period"),
    limit: Limit = 100,
    offset: Offset = 0,
) -> SeriesOut:
    ind = require_indicator(catalogue, indicator)
    unit_lv = unit_level(unit)
    if level is not None and level is not unit_lv:
        raise invalid("level", f"unit {unit} is a {unit_lv.value}, not a {level.value}")
    first = period_param(from_, granularity, "from")
    last = period_param(to, granularity, "to")
    check_query_range(first, last, granularity)
    starts = periods_between(first, last, granularity)
    page = starts[offset : offset + limit]
    found = await node_values(conn, ind.code, unit_lv.value, unit, granularity, page, part_of(ind))
    items: list[PointOut | None] = []
    for start in page:
        v = found.get(start)
        items.append(
            None
            if v is None
            else PointOut(
                period=period_label(start, granularity),
                period_start=start,
                value=display_value(v.num, v.den, ind.scale),
                numerator=as_float(v.num) if v.den is not None else None,
                denominator=as_float(v.den),
                carried=v.carried,
            )
        )
    return SeriesOut(
        total=len(starts),
        limit=limit,
        offset=offset,
        indicator=ind.code,
        unit_code=unit,
        level=unit_lv,
        granularity=granularity,
        items=items,
        periods=[period_label(s, granularity) for s in page],
    )
