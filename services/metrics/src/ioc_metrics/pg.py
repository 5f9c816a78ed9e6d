"""The engine's :class:`~ioc_metrics.core.Store` on PostgreSQL: one set-based statement per
operation (``unnest`` of parameter arrays), all inside the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from ioc_common.timeutil import Granularity
from ioc_metrics.core import ChildValue, Own, Row, RowKey, era_floor
from ioc_metrics.facts import Fact, gran_order, parent_scope

_FACT_COLUMNS = (
    "indicator, unit_code, fact_key, part, scope, series, observed_at, granularity, gran_order,"
    " num, den, revision, received_at, event_id"
)
_FACT_ARRAYS = (
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[],"
    " $8::text[], $9::smallint[], $10::numeric[], $11::numeric[], $12::int[],"
    " $13::timestamptz[], $14::uuid[]"
)


def _fact_columns(facts: Sequence[Fact]) -> list[list[Any]]:
    return [
        [f.indicator for f in facts],
        [f.unit_code for f in facts],
        [f.fact_key for f in facts],
        [f.part.value for f in facts],
        [f.scope for f in facts],
        [f.series for f in facts],
        [f.observed_at for f in facts],
        [f.granularity.value for f in facts],
        [gran_order(f.granularity) for f in facts],
        [f.num for f in facts],
        [f.den for f in facts],
        [f.revision for f in facts],
        [f.received_at for f in facts],
        [f.event_id for f in facts],
    ]


def _key_columns(keys: Sequence[RowKey]) -> list[list[Any]]:
    return [
        [k.indicator for k in keys],
        [k.granularity.value for k in keys],
        [k.scope for k in keys],
        [k.period_start for k in keys],
    ]


class PostgresStore:
    """``conn`` is an asyncpg connection inside an open transaction."""

    def __init__(self, conn: Any, scales: dict[str, int] | None = None) -> None:
        self.conn = conn
        self.scales = scales or {}

    async def claim_events(self, event_ids: Sequence[UUID]) -> set[UUID]:
        rows = await self.conn.fetch(
            "INSERT INTO metrics_processed_events (event_id) SELECT unnest($1::uuid[])"
            " ON CONFLICT DO NOTHING RETURNING event_id",
            list(event_ids),
        )
        return {r["event_id"] for r in rows}

    async def save_flow_facts(self, facts: Sequence[Fact]) -> None:
        await self.conn.execute(
            f"INSERT INTO metrics_facts ({_FACT_COLUMNS}) SELECT * FROM unnest({_FACT_ARRAYS})"
            " ON CONFLICT DO NOTHING",
            *_fact_columns(facts),
        )

    async def save_stock_facts(self, facts: Sequence[Fact]) -> list[Fact]:
        rows = await self.conn.fetch(
            f"INSERT INTO metrics_facts AS f ({_FACT_COLUMNS})"
            f" SELECT * FROM unnest({_FACT_ARRAYS})"
            " ON CONFLICT (indicator, unit_code, fact_key) DO UPDATE SET"
            " num = EXCLUDED.num, den = EXCLUDED.den, revision = EXCLUDED.revision,"
            " received_at = EXCLUDED.received_at, event_id = EXCLUDED.event_id,"
            " scope = EXCLUDED.scope, stored_at = now()"
            " WHERE (EXCLUDED.revision, EXCLUDED.received_at, EXCLUDED.event_id::text)"
            "     > (f.revision, f.received_at, f.event_id::text)"
            " RETURNING indicator, unit_code, fact_key",
            *_fact_columns(facts),
        )
        won = {(r["indicator"], r["unit_code"], r["fact_key"]) for r in rows}
        return [f for f in facts if (f.indicator, f.unit_code, f.fact_key) in won]

    async def later_stock_dates(self, facts: Sequence[Fact]) -> list[dict[Granularity, date]]:
        rows = await self.conn.fetch(
            "SELECT k.i, f.granularity, min(f.observed_at) AS first"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::smallint[])"
            "      WITH ORDINALITY AS k(indicator, unit_code, series, d, g, i)"
            " JOIN metrics_facts f ON f.part = 'stock' AND f.indicator = k.indicator"
            "  AND f.unit_code = k.unit_code AND f.series = k.series AND f.observed_at >= k.d"
            "  AND (f.observed_at, f.gran_order) > (k.d, k.g)"
            " GROUP BY k.i, f.granularity",
            [f.indicator for f in facts],
            [f.unit_code for f in facts],
            [f.series for f in facts],
            [f.observed_at for f in facts],
            [gran_order(f.granularity) for f in facts],
        )
        out: list[dict[Granularity, date]] = [{} for _ in facts]
        for r in rows:
            out[r["i"] - 1][Granularity(r["granularity"])] = r["first"]
        return out

    async def stored_periods(
        self, ranges: Sequence[tuple[str, Granularity, str, date, date | None]]
    ) -> list[list[date]]:
        rows = await self.conn.fetch(
            "SELECT k.i, a.period_start"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[])"
            "      WITH ORDINALITY AS k(indicator, granularity, scope, d0, d1, i)"
            " JOIN metrics_aggregates a ON a.indicator = k.indicator"
            "  AND a.granularity = k.granularity AND a.scope = k.scope"
            "  AND a.period_start >= k.d0 AND (k.d1 IS NULL OR a.period_start < k.d1)",
            [r[0] for r in ranges],
            [r[1].value for r in ranges],
            [r[2] for r in ranges],
            [r[3] for r in ranges],
            [r[4] for r in ranges],
        )
        out: list[list[date]] = [[] for _ in ranges]
        for r in rows:
            out[r["i"] - 1].append(r["period_start"])
        return out

    async def load_rows(self, keys: Sequence[RowKey]) -> dict[RowKey, Row]:
        rows = await self.conn.fetch(
            "SELECT k.i, a.own_num, a.own_den, a.own_count, a.own_fresh, a.num, a.den,"
            "       a.carried, a.version"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::date[])"
            "      WITH ORDINALITY AS k(indicator, granularity, scope, period_start, i)"
            " JOIN metrics_aggregates a USING (indicator, granularity, scope, period_start)",
            *_key_columns(keys),
        )
        out: dict[RowKey, Row] = {}
        for r in rows:
            key = keys[r["i"] - 1]
            own = None
            if r["own_count"] > 0:
                own = Own(r["own_num"], r["own_den"], r["own_count"], r["own_fresh"])
            out[key] = Row(key, own, r["num"], r["den"], r["carried"], r["version"])
        return out

    async def stock_own(self, keys: Sequence[RowKey]) -> dict[RowKey, Own]:
        rows = await self.conn.fetch(
            "SELECT k.i, sum(x.num) AS num, sum(x.den) AS den, count(*) AS n,"
            "       bool_or(x.observed_at >= k.p0) AS fresh"
            " FROM unnest($1::text[], $2::text[], $3::smallint[], $4::date[], $5::date[],"
            "             $6::date[])"
            "      WITH ORDINALITY AS k(indicator, scope, g, p0, p1, floor, i)"
            " CROSS JOIN LATERAL ("
            "   SELECT DISTINCT ON (f.series) f.num, f.den, f.observed_at FROM metrics_facts f"
            "   WHERE f.part = 'stock' AND f.indicator = k.indicator"
            "     AND f.unit_code = split_part(k.scope, '/', -1) AND f.scope = k.scope"
            "     AND f.gran_order <= k.g AND f.observed_at <= k.p1 AND f.observed_at >= k.floor"
            "   ORDER BY f.series, f.observed_at DESC, f.gran_order DESC"
            " ) x GROUP BY k.i",
            [k.indicator for k in keys],
            [k.scope for k in keys],
            [gran_order(k.granularity) for k in keys],
            [k.period_start for k in keys],
            [k.period_end for k in keys],
            [era_floor(k.period_start, k.granularity) for k in keys],
        )
        return {keys[r["i"] - 1]: Own(r["num"], r["den"], r["n"], r["fresh"]) for r in rows}

    async def children(self, keys: Sequence[RowKey], carry: bool) -> dict[RowKey, list[ChildValue]]:
        # One backward probe of the primary key per child node (LIMIT 1): no history scans.
        probe = (
            "SELECT c.num, c.den, c.carried, c.period_start, c.period_end"
            " FROM metrics_aggregates c WHERE c.indicator = k.indicator"
            "  AND c.granularity = k.granularity AND c.scope = n.scope"
        )
        probe += (
            " AND c.period_start <= k.p ORDER BY c.period_start DESC LIMIT 1"
            if carry
            else " AND c.period_start = k.p"
        )
        sql = (
            "SELECT k.i, x.num, x.den, (x.period_start = k.p AND NOT x.carried) AS fresh"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[])"
            "      WITH ORDINALITY AS k(indicator, granularity, scope, p, floor, i)"
            " JOIN metrics_nodes n ON n.indicator = k.indicator"
            "  AND n.granularity = k.granularity AND n.parent_scope = k.scope"
            f" CROSS JOIN LATERAL ({probe}) x"
            " WHERE x.num IS NOT NULL AND x.period_end >= k.floor"
        )
        floors = [era_floor(k.period_start, k.granularity) if carry else date.min for k in keys]
        args = [*_key_columns(keys), floors]
        out: dict[RowKey, list[ChildValue]] = defaultdict(list)
        for r in await self.conn.fetch(sql, *args):
            out[keys[r["i"] - 1]].append(ChildValue(r["num"], r["den"], r["fresh"]))
        return out

    async def write_rows(self, rows: Sequence[Row]) -> None:
        children = sorted(
            {
                (r.key.indicator, r.key.granularity.value, parent_scope(r.key.scope), r.key.scope)
                for r in rows
                if "/" in r.key.scope
            }
        )
        if children:
            await self.conn.execute(
                "INSERT INTO metrics_nodes (indicator, granularity, parent_scope, scope)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
                " ON CONFLICT DO NOTHING",
                *(list(column) for column in zip(*children, strict=True)),
            )
        await self.conn.execute(
            "INSERT INTO metrics_aggregates (indicator, granularity, scope, period_start,"
            " period_end, parent_scope, level, code, own_num, own_den, own_count, own_fresh,"
            " num, den, value, carried, version, updated_at)"
            " SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::date[],"
            "  $5::date[], $6::text[], $7::text[], $8::text[], $9::numeric[], $10::numeric[],"
            "  $11::int[], $12::bool[], $13::numeric[], $14::numeric[], $15::float8[],"
            "  $16::bool[], $17::int[])"
            " ON CONFLICT (indicator, granularity, scope, period_start) DO UPDATE SET"
            " own_num = EXCLUDED.own_num, own_den = EXCLUDED.own_den,"
            " own_count = EXCLUDED.own_count, own_fresh = EXCLUDED.own_fresh,"
            " num = EXCLUDED.num, den = EXCLUDED.den, value = EXCLUDED.value,"
            " carried = EXCLUDED.carried, version = EXCLUDED.version, updated_at = now()",
            *_key_columns([r.key for r in rows]),
            [r.key.period_end for r in rows],
            [parent_scope(r.key.scope) for r in rows],
            [r.key.level.value for r in rows],
            [r.key.code for r in rows],
            [r.own.num if r.own else None for r in rows],
            [r.own.den if r.own else None for r in rows],
            [r.own.count if r.own else 0 for r in rows],
            [r.own.fresh if r.own else False for r in rows],
            [r.num for r in rows],
            [r.den for r in rows],
            [display_value(r.num, r.den, self.scales.get(r.key.indicator)) for r in rows],
            [r.carried for r in rows],
            [r.version for r in rows],
        )


def display_value(num: Decimal | None, den: Decimal | None, scale: int | None) -> float | None:
    """The number people see: the value, or numerator ÷ denominator × scale (None if ÷ 0)."""
    if num is None:
        return None
    if den is None:
        return float(num)
    if den == 0:
        return None
    return float(num / den * (scale or 1))
