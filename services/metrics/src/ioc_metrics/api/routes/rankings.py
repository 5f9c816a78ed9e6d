"""GET /v1/rankings — a province's districts ranked for one indicator and period."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ioc_common.catalogue import Direction, display_value
from ioc_common.contracts.metrics import RankedOut, RankingOut
from ioc_common.reference.units import Level, UnknownUnitError, unit_tree
from ioc_common.timeutil import period_end, period_label
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
)
from ioc_metrics.facts import part_of
from ioc_metrics.queries import level_values

router = APIRouter(tags=["rankings"], responses=error_responses(422))


@router.get(
    "/v1/rankings",
    summary="Xếp hạng huyện trong tỉnh / Districts of a province ranked",
    description="Hạng 1 là tốt nhất theo chiều của chỉ tiêu; kèm giá trị cấp tỉnh. / "
    "Rank 1 is the best by the indicator's direction; with the province's own value.",
)
async def rankings(
    conn: Conn,
    catalogue: CatalogueDep,
    granularity: GranularityQ,
    indicator: str = Query(description="mã chỉ tiêu / indicator code"),
    province: str = Query(pattern=r"^\d{2}$", description="mã tỉnh / province code"),
    period: str = Query(description="kỳ / period: 2024-05-31, 2024-05, 2024-Q2, 2024"),
    limit: Limit = 100,
    offset: Offset = 0,
) -> RankingOut:
    ind = require_indicator(catalogue, indicator)
    start = period_param(period, granularity, "period")
    on = period_end(start, granularity)
    tree = unit_tree()
    try:
        if tree.require(province, on).level is not Level.PROVINCE:
            raise invalid("province", f"{province} is not a province")
        districts = tree.districts_of_province(province, on)
    except UnknownUnitError as exc:
        raise invalid("province", str(exc)) from None
    part = part_of(ind)
    found = await level_values(
        conn, ind.code, "district", [d.code for d in districts], granularity, start, part
    )
    own = await level_values(conn, ind.code, "province", [province], granularity, start, part)
    scored = []
    for d in districts:
        v = found.get(d.code)
        shown = display_value(v.num, v.den, ind.scale) if v else None
        scored.append((d, shown, v.carried if v else None))
    better_high = ind.direction is Direction.HIGHER_IS_BETTER
    ranked = sorted(
        scored,
        key=lambda s: (s[1] is None, -(s[1] or 0) if better_high else (s[1] or 0), s[0].code),
    )
    items = [
        RankedOut(
            rank=i + 1 if value is not None else None,
            unit_code=d.code,
            name=d.name,
            value=value,
            carried=carried,
        )
        for i, (d, value, carried) in enumerate(ranked)
    ]
    pv = own.get(province)
    return RankingOut(
        total=len(items),
        limit=limit,
        offset=offset,
        indicator=ind.code,
        province=province,
        granularity=granularity,
        period=period_label(start, granularity),
        direction=ind.direction.value,
        province_value=display_value(pv.num, pv.den, ind.scale) if pv else None,
        province_carried=pv.carried if pv else None,
        items=items[offset : offset + limit],
    )
