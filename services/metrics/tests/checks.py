"""Comparing what the service stored with the naive reference."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_common.catalogue import load_catalogue
from ioc_common.timeutil import Granularity
from ioc_metrics.core import PeriodValue, value_at
from ioc_metrics.db import pg_transaction
from ioc_metrics.facts import part_of
from ioc_metrics.queries import periods_between
from services.metrics.tests.naive_reference import resolve, table


async def stored_values(
    engine: AsyncEngine, province: str, first: date, last: date
) -> dict[tuple[str, str, str, str, date], tuple[Any, Any, bool]]:
    """What the read side answers for every node under ``province`` and every period."""
    async with pg_transaction(engine) as conn:
        rows = await conn.fetch(
            "SELECT indicator, granularity, level, code, period_start, sum(num) AS num,"
            " sum(den) AS den, bool_and(carried) AS carried FROM metrics_aggregates"
            " WHERE (scope = $1 OR scope LIKE $1 || '/%') AND num IS NOT NULL"
            " GROUP BY indicator, granularity, level, code, period_start"
            " ORDER BY period_start",
            province,
        )
    series: dict[tuple[str, str, str, str], list[PeriodValue]] = defaultdict(list)
    for r in rows:
        key = (r["indicator"], r["granularity"], r["level"], r["code"])
        series[key].append(PeriodValue(r["period_start"], r["num"], r["den"], r["carried"]))
    out = {}
    catalogue = load_catalogue()
    for (indicator, gran, level, code), values in series.items():
        g = Granularity(gran)
        for start in periods_between(first, last, g):
            got = value_at(values, start, g, part_of(catalogue.require(indicator)))
            if got is not None:
                out[(indicator, gran, level, code, start)] = (got.num, got.den, got.carried)
    return out


def expected_values(
    stream: list[dict[str, Any]], first: date, last: date
) -> dict[tuple[str, str, str, str, date], tuple[Any, Any, bool]]:
    return table(resolve(stream), first, last)


async def compared_with_reference(
    engine: AsyncEngine, stream: list[dict[str, Any]], province: str, year: int
) -> tuple[int, list[str]]:
    """What the read side answers for every node under ``province`` over ``year``, against the
    naive reference of ``stream``: how many cells the reference holds, and the differences
    (none: equal)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    actual = await stored_values(engine, province, first, last)
    expected = expected_values(stream, first, last)
    return len(expected), diff(expected, actual)


def diff(expected: dict[Any, Any], actual: dict[Any, Any], limit: int = 10) -> list[str]:
    problems = []
    for key in sorted(set(expected) | set(actual), key=str):
        if expected.get(key) != actual.get(key):
            problems.append(f"{key}: expected {expected.get(key)} got {actual.get(key)}")
            if len(problems) >= limit:
                break
    return problems


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()
