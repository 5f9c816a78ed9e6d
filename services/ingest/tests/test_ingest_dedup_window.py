"""The ingest dedup window: published ids live in a partition per month of their arrival; an
id in any kept month is seen, months wholly older than the window are dropped (their ids may be
published again), and the service keeps the window itself. Migration ``0016`` moves the rows of
the unpartitioned table to their months and back. Real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from ioc_common.db.migrate import downgrade, upgrade
from ioc_common.db.partitions import create_partition_sql, month_start, next_month, partition_name
from ioc_ingest.seen import SEEN_EVENTS, PgSeenStore, SeenEvent, keep_seen_window

pytestmark = pytest.mark.connected

PROVIDER = "so-tttt-tq"
TODAY = datetime.now(UTC).date()


def arrived(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)


def row(event_id: uuid.UUID, when: datetime) -> SeenEvent:
    digest = hashlib.sha256(event_id.bytes).digest()
    return SeenEvent(event_id, PROVIDER, "bts", "ioc.telemetry.bts.v1", 0, 1, when, digest)


@pytest.fixture
async def store(fresh_database_url: str) -> AsyncIterator[PgSeenStore]:
    store = PgSeenStore(fresh_database_url, pool_size=2)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


async def sql(url: str, statement: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def months(url: str) -> list[str]:
    rows = await sql(
        url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = $1::regclass ORDER BY 1",
        SEEN_EVENTS,
    )
    return [r["relname"] for r in rows]


async def test_an_id_published_in_an_earlier_kept_month_is_seen(
    fresh_database_url: str, store: PgSeenStore
) -> None:
    earlier = month_start(TODAY) - timedelta(days=20)  # last month: inside the window
    await sql(fresh_database_url, create_partition_sql(SEEN_EVENTS, earlier))
    old, new, never = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.record([row(old, arrived(earlier)), row(new, arrived(TODAY))])
    rows = await sql(fresh_database_url, f"SELECT event_id, seen_month FROM {SEEN_EVENTS}")
    assert {r["event_id"]: r["seen_month"] for r in rows} == {
        old: month_start(earlier),
        new: month_start(TODAY),
    }
    seen = await store.seen(PROVIDER, [old, new, never])
    assert seen == {old: row(old, arrived(TODAY)).content_sha256, new: row(new, arrived(TODAY))
                    .content_sha256}  # fmt: skip
    assert await store.seen("another-provider", [old, new]) == {}


async def test_months_wholly_older_than_the_window_are_dropped(
    fresh_database_url: str, store: PgSeenStore
) -> None:
    today = date(2031, 5, 10)
    # April is kept (10 April is inside a 35-day window); March's days all lie before it.
    march, april = date(2031, 3, 15), date(2031, 4, 20)
    for month in (march, april):
        await sql(fresh_database_url, create_partition_sql(SEEN_EVENTS, month))
    in_march, in_april = uuid.uuid4(), uuid.uuid4()
    await store.record([row(in_march, arrived(march)), row(in_april, arrived(april))])

    dropped = await store.keep_window(today, 35)

    # March goes (so do the months the migration made, all of 2026–2027); April stays.
    assert partition_name(SEEN_EVENTS, march) in dropped
    assert partition_name(SEEN_EVENTS, april) not in dropped
    names = await months(fresh_database_url)
    assert partition_name(SEEN_EVENTS, april) in names
    for made in (today, next_month(today)):  # this month's and the next are made ahead
        assert partition_name(SEEN_EVENTS, made) in names
    assert set(await store.seen(PROVIDER, [in_march, in_april])) == {in_april}
    assert await store.keep_window(today, 35) == []  # nothing more to drop


async def test_the_service_keeps_the_window_itself(
    fresh_database_url: str, store: PgSeenStore
) -> None:
    """The keeper (``create_app`` runs it) keeps the window at once, and again when the day
    turns: here the day jumps two months ahead, so that month's partitions appear."""
    days = iter([TODAY, TODAY + timedelta(days=62)])
    later = TODAY + timedelta(days=62)
    ticks = 0

    def today() -> date:
        nonlocal ticks
        ticks += 1
        return next(days, later)

    keeper = asyncio.create_task(keep_seen_window(store, 35, every_s=0.01, today=today))
    try:
        for _ in range(500):
            if partition_name(SEEN_EVENTS, next_month(later)) in await months(fresh_database_url):
                break
            await asyncio.sleep(0.01)
    finally:
        keeper.cancel()
    names = await months(fresh_database_url)
    assert partition_name(SEEN_EVENTS, later) in names
    assert partition_name(SEEN_EVENTS, next_month(later)) in names
    assert ticks >= 2


async def test_migration_moves_seen_ids_to_their_months_and_back(
    fresh_database_url: str,
) -> None:
    earlier = arrived(month_start(TODAY) - timedelta(days=70))
    ids = [uuid.uuid4(), uuid.uuid4()]
    await asyncio.to_thread(downgrade, fresh_database_url, "0015")
    await sql(
        fresh_database_url,
        f'INSERT INTO {SEEN_EVENTS} (event_id, provider, family, topic, partition, "offset",'
        " received_at, content_sha256) VALUES ($1, $3, 'bts', 't', 0, 1, $4, NULL),"
        " ($2, $3, 'bts', 't', 0, 2, now(), NULL)",
        ids[0], ids[1], PROVIDER, earlier,
    )  # fmt: skip
    await asyncio.to_thread(upgrade, fresh_database_url)
    rows = await sql(fresh_database_url, f"SELECT event_id, seen_month FROM {SEEN_EVENTS}")
    assert {r["event_id"]: r["seen_month"] for r in rows} == {
        ids[0]: month_start(earlier.date()),
        ids[1]: month_start(TODAY),
    }
    assert partition_name(SEEN_EVENTS, month_start(earlier.date())) in await months(
        fresh_database_url
    )
    store = PgSeenStore(fresh_database_url, pool_size=1)
    await store.start()
    try:
        assert set(await store.seen(PROVIDER, ids)) == set(ids)  # both still seen
    finally:
        await store.close()

    await asyncio.to_thread(downgrade, fresh_database_url, "0015")
    back = await sql(fresh_database_url, f'SELECT event_id, "offset" FROM {SEEN_EVENTS}')
    assert {r["event_id"]: r["offset"] for r in back} == {ids[0]: 1, ids[1]: 2}
    await asyncio.to_thread(upgrade, fresh_database_url)
