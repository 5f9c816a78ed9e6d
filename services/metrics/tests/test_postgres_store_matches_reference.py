"""The SQL twin of the engine's store gives the naive reference's aggregates exactly."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine
from ioc_common.db.migrate import downgrade, upgrade
from ioc_common.events import EventKey, decode_telemetry, event_key
from ioc_common.reference.units import unit_tree
from ioc_common.timeutil import Granularity
from ioc_metrics.core import Row, RowKey, apply_events
from ioc_metrics.db import pg_transaction
from ioc_metrics.facts import Fact, facts_of
from ioc_metrics.pg import PostgresStore
from services.metrics.tests.checks import compared_with_reference
from services.metrics.tests.streams import PROVINCE, YEAR, make_stream
from services.metrics.tests.test_aggregation_matches_reference import compare, events

pytestmark = pytest.mark.connected


async def test_batches_through_postgres_equal_the_reference(fresh_database_url: str) -> None:
    stream = make_stream(3000, seed=7)
    engine = create_engine(fresh_database_url)
    catalogue, tree = load_catalogue(), unit_tree()
    try:
        for i in range(0, len(stream), 400):
            batch: list[tuple[EventKey, list]] = []  # type: ignore[type-arg]
            for raw in stream[i : i + 400]:
                event = decode_telemetry(json.dumps(raw))
                batch.append((event_key(event), facts_of(event, catalogue, tree)))
            async with pg_transaction(engine) as conn:
                await apply_events(PostgresStore(conn), batch)
        cells, differences = await compared_with_reference(engine, stream, PROVINCE, YEAR)
    finally:
        await engine.dispose()
    assert cells > 1000
    assert differences == []


async def _run_on_postgres(
    url: str,
    stream: list[dict[str, Any]],
    cuts: list[int],
    stock_paths: dict[str, int] | None = None,
) -> dict[RowKey, Row]:
    """The stream through the SQL store in batches cut after ``cuts``; the batches' stock
    paths are counted into ``stock_paths``."""
    engine = create_engine(url)
    catalogue, tree = load_catalogue(), unit_tree()
    try:
        async with pg_transaction(engine) as conn:
            await conn.execute(
                "TRUNCATE metrics_facts, metrics_aggregates, metrics_nodes,"
                " metrics_processed_events"
            )
        batch: list[tuple[EventKey, list[Fact]]] = []
        for i, raw in enumerate(stream):
            event = decode_telemetry(json.dumps(raw))
            batch.append((event_key(event), facts_of(event, catalogue, tree)))
            if i in cuts or i == len(stream) - 1:
                async with pg_transaction(engine) as conn:
                    store = PostgresStore(conn)
                    await apply_events(store, batch)
                for path, n in store.stock_paths.items():
                    if stock_paths is not None:
                        stock_paths[path] = stock_paths.get(path, 0) + n
                batch = []
        async with pg_transaction(engine) as conn:
            rows = await conn.fetch(
                "SELECT indicator, granularity, scope, period_start, num, den, carried, version"
                " FROM metrics_aggregates"
            )
    finally:
        await engine.dispose()
    out: dict[RowKey, Row] = {}
    for r in rows:
        key = RowKey(r["indicator"], Granularity(r["granularity"]), r["scope"], r["period_start"])
        out[key] = Row(key, None, r["num"], r["den"], r["carried"], r["version"])
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(stream=events(), data=st.data())
def test_sql_store_equals_the_reference_with_corrections(
    fresh_database_url: str, stream: list[dict[str, Any]], data: st.DataObject
) -> None:
    """The memory store's property on the SQL store (tables emptied per example): corrections
    of flows and stocks — a higher revision replacing, lower or equal ones arriving late."""
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=5))
    if data.draw(st.booleans()):
        cuts = list(range(len(stream)))
    rows = asyncio.run(_run_on_postgres(fresh_database_url, stream, cuts))
    compare(stream, rows)


async def test_migration_0009_merges_pre_change_flow_facts(fresh_database_url: str) -> None:
    """Flow rows of the old format (one per event) become one per figure holding what the
    aggregates counted, so a correction after the upgrade replaces exactly that."""
    await asyncio.to_thread(downgrade, fresh_database_url, "0008")
    engine = create_engine(fresh_database_url)
    old = [(uuid.uuid4(), 1, 10), (uuid.uuid4(), 1, 5), (uuid.uuid4(), 2, 7)]
    try:
        async with pg_transaction(engine) as conn:
            for event_id, revision, num in old:
                await conn.execute(
                    "INSERT INTO metrics_facts (indicator, unit_code, fact_key, part, scope,"
                    " series, observed_at, granularity, gran_order, num, den, revision,"
                    " received_at, event_id) VALUES ('cashless_transactions', '02233', $1,"
                    " 'flow', '08/071/02233', '', '2025-02-01', 'month', 1, $2, NULL, $3,"
                    " now(), $4)",
                    f"dept-a:{event_id}",
                    num,
                    revision,
                    event_id,
                )
        await asyncio.to_thread(upgrade, fresh_database_url)
        async with pg_transaction(engine) as conn:
            rows = await conn.fetch("SELECT fact_key, num, revision FROM metrics_facts")
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("|2025-02-01|month|dept-a", 22, 2)]
