"""Two metrics replicas (one consumer group, partitions keyed by district) both write the
province's cells. Flow cells only receive additions, which commute. A stock cell is written
from what was read of it or its children (the exact path recomputes it from its children's
rows, the delta path moves the province row it read): had a replica read before the other
committed and written after it, the other district's change would be lost. The replicas take
the province's lock before they save a stock fact or read a stock cell, so the second one reads
the first one's committed rows."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

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

PROVINCE = "08"  # Tuyên Quang
#: Two districts, a commune in each (different partitions): before the reform, and after it.
BEFORE_REFORM, AFTER_REFORM = ("02200", "02233"), ("02266", "02221")


class Case(NamedTuple):
    family: str
    observed_at: str
    communes: tuple[str, str]
    indicator: str
    #: The stock path the replicas' batches take (None: flows).
    path: str | None


CASES = {
    "flows": Case("cashless", "2024-03", BEFORE_REFORM, "cashless_transactions", None),
    "stocks, exact path": Case("bts", "2024-03", BEFORE_REFORM, "bts_sites", "exact"),
    "stocks, delta path": Case("bts", "2025-08", AFTER_REFORM, "bts_sites", "delta"),
}


def _batch(case: Case, commune: str, figure: int) -> list[tuple[Any, Any]]:
    from ioc_metrics.facts import facts_of

    if case.family == "cashless":
        payload: dict[str, Any] = {"channel": "qr", "transactions": figure, "value_vnd": 10**6}
    else:
        payload = {"operator": "Viettel", "technology": "4G", "sites": figure,
                   "villages_total": 10, "villages_covered": 5}  # fmt: skip
    event = decode_telemetry(
        json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "family": case.family,
                "unit_code": commune,
                "observed_at": case.observed_at,
                "received_at": datetime(2025, 9, 2, tzinfo=UTC).isoformat(),
                "source": "sbv-tuyen-quang",
                "payload": payload,
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


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_two_replicas_writing_one_province_lose_nothing(
    fresh_database_url: str, case: Case
) -> None:
    engine = create_engine(fresh_database_url)
    second_pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stores: list[PostgresStore] = []

    async def second_replica() -> None:
        async with pg_transaction(engine) as conn:
            second_pid.set_result(await conn.fetchval("SELECT pg_backend_pid()"))
            stores.append(PostgresStore(conn))
            await apply_events(stores[-1], _batch(case, case.communes[1], 7))

    try:
        async with pg_transaction(engine) as first:
            stores.append(PostgresStore(first))
            await apply_events(stores[-1], _batch(case, case.communes[0], 100))
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
    figures = [r for r in rows if r["indicator"] == case.indicator]
    assert figures
    assert all(r["province"] == 107 for r in figures)
    expected_paths = {} if case.path is None else {case.path: 1}
    assert [s.stock_paths for s in stores] == [expected_paths, expected_paths]
