"""The dedup window: counted event ids live in a partition per month; an id counted in any kept
month is a duplicate, months wholly older than the window are dropped, and the processor keeps
the window itself. Migration ``0014`` moves the ids of the unpartitioned table to their months.
Real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine, pg_transaction
from ioc_common.db.migrate import downgrade, upgrade
from ioc_common.db.partitions import month_start, next_month, partition_name
from ioc_common.events import EventKey
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.observability import new_registry
from ioc_common.reference.units import unit_tree
from ioc_metrics.instruments import Instruments
from ioc_metrics.pg import PROCESSED_EVENTS, PostgresStore, keep_dedup_window
from ioc_metrics.processor import BatchProcessor

pytestmark = pytest.mark.connected

TODAY = datetime.now(UTC).date()


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(fresh_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def months(engine: AsyncEngine) -> list[str]:
    async with pg_transaction(engine) as conn:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = $1::regclass ORDER BY 1",
            PROCESSED_EVENTS,
        )
    return [r["relname"] for r in rows]


async def claim(engine: AsyncEngine, keys: list[EventKey], on: date) -> set[EventKey]:
    async with pg_transaction(engine) as conn:
        await keep_dedup_window(conn, on, 3650)  # the month written to exists
        return await PostgresStore(conn, processed_on=on).claim_events(keys)


def keys(n: int, provider: str = "so-tttt") -> list[EventKey]:
    return [(provider, uuid.uuid4()) for _ in range(n)]


async def test_an_id_counted_in_an_earlier_kept_month_is_a_duplicate(engine: AsyncEngine) -> None:
    earlier = month_start(TODAY) - timedelta(days=40)
    first = keys(3)
    assert await claim(engine, first, earlier) == set(first)
    again = [*first, *keys(2)]
    assert await claim(engine, again, TODAY) == set(again[3:])
    # Counted on one day of a month, a duplicate on another day of it (the key finds it).
    later = keys(1)
    assert await claim(engine, later, month_start(TODAY)) == set(later)
    assert await claim(engine, later, month_start(TODAY) + timedelta(days=1)) == set()
    # Another provider's identical ids are its own events.
    others = [("sxd-tttt", k[1]) for k in first]
    assert await claim(engine, others, TODAY) == set(others)


async def test_months_wholly_older_than_the_window_are_dropped(engine: AsyncEngine) -> None:
    old = keys(1)
    kept = keys(1)
    two_months_ago = month_start(month_start(TODAY) - timedelta(days=1)) - timedelta(days=1)
    await claim(engine, old, two_months_ago)
    await claim(engine, kept, month_start(TODAY))
    async with pg_transaction(engine) as conn:
        # A window reaching into last month keeps it; the month before is wholly older.
        dropped = await keep_dedup_window(conn, TODAY, TODAY.day + 1)
    assert dropped == [partition_name(PROCESSED_EVENTS, month_start(two_months_ago))]
    assert partition_name(PROCESSED_EVENTS, month_start(TODAY)) in await months(engine)
    assert partition_name(PROCESSED_EVENTS, next_month(TODAY)) in await months(engine)
    # What the window forgot may be counted again; what it kept may not.
    assert await claim(engine, [*old, *kept], TODAY) == set(old)


def event(provider: str, event_id: uuid.UUID, offset: int) -> ConsumedRecord:
    raw = json.dumps({
        "event_id": str(event_id), "family": "observation", "indicator": "open_datasets",
        "unit_code": "071", "observed_at": "2024-03",
        "received_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "source": provider, "payload": {"value": 5},
    }).encode()  # fmt: skip
    return ConsumedRecord("ioc.telemetry.observation.v1", 0, offset, "071", raw, 0)


async def test_the_processor_keeps_the_window_and_counts_in_this_month(engine: AsyncEngine) -> None:
    long_ago = month_start(TODAY) - timedelta(days=200)
    stale = keys(1, "so-tttt")
    await claim(engine, stale, long_ago)
    processor = BatchProcessor(
        engine, InMemoryPublisher(InMemoryBroker()), group_id="window-test",
        catalogue=load_catalogue(), tree=unit_tree(), instruments=Instruments(new_registry()),
        dedup_window_days=35,
    )  # fmt: skip
    fresh = uuid.uuid4()
    result = await processor.process([event("so-tttt", fresh, 0)])
    assert result.aggregated == 1
    assert partition_name(PROCESSED_EVENTS, month_start(long_ago)) not in await months(engine)
    async with pg_transaction(engine) as conn:
        on = await conn.fetchval(
            f"SELECT processed_month FROM {PROCESSED_EVENTS} WHERE event_id = $1", fresh
        )
    assert on == month_start(TODAY)
    # The same event again, in a later batch: a duplicate.
    assert (await processor.process([event("so-tttt", fresh, 1)])).duplicates == 1


async def test_migration_moves_counted_ids_to_their_months_and_back(
    fresh_database_url: str, engine: AsyncEngine
) -> None:
    earlier = datetime.combine(month_start(TODAY) - timedelta(days=70), datetime.min.time(), UTC)
    ids = keys(2)
    await asyncio.to_thread(downgrade, fresh_database_url, "0013")
    async with pg_transaction(engine) as conn:
        await conn.execute(
            f"INSERT INTO {PROCESSED_EVENTS} (provider, event_id, processed_at)"
            " VALUES ($1, $2, $3), ($4, $5, now())",
            ids[0][0], ids[0][1], earlier, ids[1][0], ids[1][1],
        )  # fmt: skip
    await asyncio.to_thread(upgrade, fresh_database_url)
    async with pg_transaction(engine) as conn:
        rows = await conn.fetch(f"SELECT event_id, processed_month FROM {PROCESSED_EVENTS}")
    assert {r["event_id"]: r["processed_month"] for r in rows} == {
        ids[0][1]: month_start(earlier.date()),
        ids[1][1]: month_start(TODAY),
    }
    assert partition_name(PROCESSED_EVENTS, month_start(earlier.date())) in await months(engine)
    assert await claim(engine, ids, TODAY) == set()  # both still counted

    await asyncio.to_thread(downgrade, fresh_database_url, "0013")
    async with pg_transaction(engine) as conn:
        back = await conn.fetch(f"SELECT provider, event_id FROM {PROCESSED_EVENTS}")
    assert {(r["provider"], r["event_id"]) for r in back} == set(ids)
    await asyncio.to_thread(upgrade, fresh_database_url)
