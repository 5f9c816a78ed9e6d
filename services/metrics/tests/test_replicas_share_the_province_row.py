"""Two metrics replicas (one consumer group, partitions keyed by district) both write the
province's cells. A replica recomputes a province cell from its children's rows: had it read them
before the other replica committed and written after it, the other district's change would be
lost. The replicas take the province's lock before they read what a province cell is made of,
so the second one reads the first one's committed rows."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine
from ioc_common.events import decode_telemetry, event_key
from ioc_common.reference.units import unit_tree
from ioc_common.testing import eventually
from ioc_metrics.core import apply_events
from ioc_metrics.db import pg_transaction
from ioc_metrics.pg import PostgresStore

pytestmark = pytest.mark.connected

#: Tuyên Quang before the reform: two districts, a commune in each (different partitions).
PROVINCE, COMMUNES = "08", ("02200", "02233")


def _batch(commune: str, transactions: int) -> list[tuple[Any, Any]]:
    from ioc_metrics.facts import facts_of

    event = decode_telemetry(
        json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "family": "cashless",
                "unit_code": commune,
                "observed_at": "2024-03",
                "received_at": datetime(2024, 4, 2, tzinfo=UTC).isoformat(),
                "source": "sbv-tuyen-quang",
                "payload": {"channel": "qr", "transactions": transactions, "value_vnd": 10**6},
            }
        )
    )
    return [(event_key(event), facts_of(event, load_catalogue(), unit_tree()))]


async def _waiting_on_a_lock(conn: Any, pid: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        )
    )


async def test_two_replicas_writing_one_province_lose_nothing(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url)
    second_pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def second_replica() -> None:
        async with pg_transaction(engine) as conn:
            second_pid.set_result(await conn.fetchval("SELECT pg_backend_pid()"))
            await apply_events(PostgresStore(conn), _batch(COMMUNES[1], 7))

    try:
        async with pg_transaction(engine) as first:
            await apply_events(PostgresStore(first), _batch(COMMUNES[0], 100))
            # The second replica runs until it must wait for the first one's transaction ...
            second = asyncio.create_task(second_replica())
            async with pg_transaction(engine) as watcher:
                pid = await second_pid
                await eventually(lambda: _waiting_on_a_lock(watcher, pid), timeout_s=60)
        # ... which commits here.
        await asyncio.wait_for(second, 60)
        async with pg_transaction(engine) as conn:
            rows = await conn.fetch(
                "SELECT p.indicator, p.granularity, p.period_start, p.num AS province,"
                "       sum(d.num) AS districts"
                " FROM metrics_aggregates p JOIN metrics_aggregates d"
                "   ON d.indicator = p.indicator AND d.granularity = p.granularity"
                "  AND d.period_start = p.period_start AND d.parent_scope = p.scope"
                " WHERE p.scope = $1 GROUP BY 1, 2, 3, 4",
                PROVINCE,
            )
    finally:
        await engine.dispose()
    assert rows, "no province cells were written"
    wrong = [dict(r) for r in rows if r["province"] != r["districts"]]
    assert wrong == []
    transactions = [r for r in rows if r["indicator"] == "cashless_transactions"]
    assert transactions
    assert all(r["province"] == 107 for r in transactions)
