"""Read side: a node's values per period (with stock carry-forward), rankings, freshness."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ioc_common.timeutil import Granularity, period_end, period_start
from ioc_metrics.core import PeriodValue, value_at
from ioc_metrics.facts import Part


def next_period(start: date, granularity: Granularity) -> date:
    return period_start(period_end(start, granularity) + timedelta(days=1), granularity)


def previous_period(start: date, granularity: Granularity) -> date:
    return period_start(start - timedelta(days=1), granularity)


def periods_between(first: date, last: date, granularity: Granularity) -> list[date]:
    out, cur = [], period_start(first, granularity)
    while cur <= last:
        out.append(cur)
        cur = next_period(cur, granularity)
    return out


def _merge(rows: list[Any]) -> list[PeriodValue]:
    return [
        PeriodValue(r["period_start"], r["num"], r["den"], r["carried"])
        for r in rows
        if r["num"] is not None
    ]


_GROUPED = (
    "SELECT code, period_start, sum(num) AS num, sum(den) AS den, bool_and(carried) AS carried,"
    " max(version) AS version, max(updated_at) AS updated_at"
    " FROM metrics_aggregates WHERE indicator = $1 AND granularity = $2 AND level = $3"
)


async def node_values(
    conn: Any,
    indicator: str,
    level: str,
    code: str,
    granularity: Granularity,
    starts: list[date],
    part: Part,
) -> dict[date, PeriodValue | None]:
    """The node's value for each period start (stocks carry their latest earlier row)."""
    if not starts:
        return {}
    rows = await conn.fetch(
        _GROUPED + " AND code = $4 AND period_start BETWEEN $5 AND $6"
        " GROUP BY code, period_start ORDER BY period_start",
        indicator,
        granularity.value,
        level,
        code,
        starts[0],
        starts[-1],
    )
    merged = _merge(rows)
    if part is Part.STOCK:
        before = await conn.fetch(
            _GROUPED + " AND code = $4 AND period_start < $5"
            " GROUP BY code, period_start ORDER BY period_start DESC LIMIT 1",
            indicator,
            granularity.value,
            level,
            code,
            starts[0],
        )
        merged = _merge(before) + merged
    return {s: value_at(merged, s, granularity, part) for s in starts}


async def level_values(
    conn: Any,
    indicator: str,
    level: str,
    codes: list[str],
    granularity: Granularity,
    start: date,
    part: Part,
) -> dict[str, PeriodValue]:
    """Many nodes' values for one period (for rankings)."""
    if part is Part.FLOW:
        rows = await conn.fetch(
            _GROUPED + " AND code = ANY($4::text[]) AND period_start = $5"
            " GROUP BY code, period_start",
            indicator,
            granularity.value,
            level,
            codes,
            start,
        )
    else:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (code) * FROM (" + _GROUPED + " AND code = ANY($4::text[])"
            " AND period_start <= $5 GROUP BY code, period_start) g"
            " ORDER BY code, period_start DESC",
            indicator,
            granularity.value,
            level,
            codes,
            start,
        )
    by_code: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_code[r["code"]].append(r)
    out = {}
    for code, found in by_code.items():
        value = value_at(_merge(found), start, granularity, part)
        if value is not None:
            out[code] = value
    return out


async def latest_periods(
    conn: Any, level: str, code: str, granularity: Granularity
) -> dict[str, date]:
    rows = await conn.fetch(
        "SELECT indicator, max(period_start) AS latest FROM metrics_aggregates"
        " WHERE code = $1 AND level = $2 AND granularity = $3 GROUP BY indicator",
        code,
        level,
        granularity.value,
    )
    return {r["indicator"]: r["latest"] for r in rows}


async def freshness(
    conn: Any, province: str | None, indicator: str | None, limit: int, offset: int
) -> tuple[int, list[Any]]:
    where = [
        "($1::text IS NULL OR scope = $1 OR scope LIKE $1 || '/%')",
        "($2::text IS NULL OR indicator = $2)",
    ]
    sql = " FROM metrics_freshness WHERE " + " AND ".join(where)
    total = await conn.fetchval("SELECT count(*)" + sql, province, indicator)
    rows = await conn.fetch(
        "SELECT *" + sql + " ORDER BY last_received_at, indicator, unit_code LIMIT $3 OFFSET $4",
        province,
        indicator,
        limit,
        offset,
    )
    return int(total), rows


def as_float(x: Decimal | None) -> float | None:
    return None if x is None else float(x)
