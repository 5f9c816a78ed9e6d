"""``ioc metrics rebuild``: the aggregates recomputed from the facts archive and compared with
the live tables (``--apply`` makes the live tables equal, with ``MetricUpdated`` for each cell
that changes).

``metrics_facts`` is the archive: every flow figure (per provider, series and period, at its
highest revision) and every stock fact (the best revision of each series and period). The
rebuild replays them, in order of observation and in slices, through the same engine and the
same SQL store as the live service (``core.apply_facts`` on ``pg.PostgresStore``) — into
temporary tables of the same names, which shadow the live ones for the rebuild's transaction
only. One snapshot (``REPEATABLE READ``) holds both sides, so a running consumer never makes
them look different; ``--apply`` also locks the live aggregates against the consumer's writes
until it commits (the consumer waits, then goes on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_common.catalogue import load_catalogue
from ioc_common.db import pg_transaction
from ioc_common.timeutil import Granularity
from ioc_metrics.core import Change, Row, RowKey, apply_facts
from ioc_metrics.facts import Fact, Part
from ioc_metrics.pg import STORED_COLUMNS, PostgresStore, stored_row
from ioc_metrics.updates import write_updates

#: Facts replayed per engine call: bounds the service's memory, not the result (the engine is
#: exact for any cut of the stream).
SLICE = 20_000

_SHADOWED = ("metrics_facts", "metrics_aggregates", "metrics_nodes")
#: What must agree for a cell: its value, whether it is carried, and its children's sum.
Compared = tuple[Decimal | None, Decimal | None, bool, Decimal | None, Decimal | None]


@dataclass(frozen=True, slots=True)
class Difference:
    key: RowKey
    live: Compared | None
    rebuilt: Compared | None

    def line(self) -> str:
        k = self.key
        return (
            f"{k.indicator} {k.granularity} {k.scope} {k.period_start}:"
            f" live {self.live} ≠ rebuilt {self.rebuilt}"
        )


@dataclass(frozen=True, slots=True)
class RebuildResult:
    facts: int
    cells: int
    differences: list[Difference]
    applied: bool


def _fact(r: Any) -> Fact:
    part = Part(r["part"])
    # A flow's identity ends with its provider (``facts.fact_key_of``); a stock's has none.
    source = r["fact_key"].rpartition("|")[2] if part is Part.FLOW else ""
    return Fact(
        r["indicator"], part, r["unit_code"], r["scope"], r["series"], r["observed_at"],
        Granularity(r["granularity"]), r["num"], r["den"], r["revision"], r["received_at"],
        UUID(bytes=r["event_id"].bytes), source,  # asyncpg's own UUID type: not JSON-able
        r["fact_key"],
    )  # fmt: skip


def _row(r: Any) -> Row:
    key = RowKey(r["indicator"], Granularity(r["granularity"]), r["scope"], r["period_start"])
    return stored_row(key, r, "")


async def _rows(conn: Any, schema: str) -> dict[RowKey, Row]:
    rows = await conn.fetch(
        "SELECT indicator, granularity, scope, period_start,"
        f" {STORED_COLUMNS.format(p='', as_='')}"
        f" FROM {schema}.metrics_aggregates WHERE num IS NOT NULL"
    )
    return {row.key: row for row in map(_row, rows)}


def _value(row: Row | None) -> Compared | None:
    return None if row is None else (row.num, row.den, row.carried, row.kid_num, row.kid_den)


async def rebuild(engine: AsyncEngine, *, apply: bool = False) -> RebuildResult:
    """Recompute every aggregate from the facts; compare; with ``apply`` make the live
    aggregates equal (each changed cell gets a new version and a ``MetricUpdated``)."""
    scales = {i.code: i.scale for i in load_catalogue().indicators}
    async with pg_transaction(engine) as conn:
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        live_schema = await conn.fetchval("SELECT current_schema()")
        if apply:
            await conn.execute(
                f"LOCK TABLE {live_schema}.metrics_aggregates IN SHARE ROW EXCLUSIVE MODE"
            )
        live = await _rows(conn, live_schema)
        facts = [
            _fact(r)
            for r in await conn.fetch(
                "SELECT * FROM metrics_facts ORDER BY observed_at, gran_order, indicator,"
                " unit_code, fact_key"
            )
        ]
        # Temporary tables are found before the live ones (pg_temp comes first in the path).
        for table in _SHADOWED:
            await conn.execute(
                f"CREATE TEMP TABLE {table} (LIKE {live_schema}.{table} INCLUDING DEFAULTS"
                " INCLUDING INDEXES) ON COMMIT DROP"
            )
        store = PostgresStore(conn, scales)
        for start in range(0, len(facts), SLICE):
            await apply_facts(store, facts[start : start + SLICE])
        rebuilt = await _rows(conn, "pg_temp")
        differences = [
            Difference(key, _value(live.get(key)), _value(rebuilt.get(key)))
            for key in sorted(set(live) | set(rebuilt))
            if _value(live.get(key)) != _value(rebuilt.get(key))
        ]
        if apply and differences:
            await _apply(conn, live_schema, differences, live, rebuilt, scales)
        return RebuildResult(len(facts), len(rebuilt), differences, apply and bool(differences))


async def _apply(
    conn: Any,
    schema: str,
    differences: Sequence[Difference],
    live: dict[RowKey, Row],
    rebuilt: dict[RowKey, Row],
    scales: dict[str, int],
) -> None:
    """Write the rebuilt cells over the live ones (next version; a live cell the facts do not
    support becomes empty) and tell downstream through the outbox."""
    changes: list[Change] = []
    written: list[Row] = []
    for d in differences:
        old, new = live.get(d.key), rebuilt.get(d.key)
        version = old.version + 1 if old is not None else 1
        if new is None:  # the facts do not support it: an empty cell (value None downstream)
            row = Row(d.key, None, None, None, True, version)
        else:
            row = new._replace(version=version)
        written.append(row)
        changes.append(Change(row, old))
    # The live tables from here on (pg_temp is searched first unless it is named).
    await conn.execute(f"SET LOCAL search_path = {schema}, pg_temp")
    await PostgresStore(conn, scales).write_rows(written)
    await write_updates(conn, changes, scales)
