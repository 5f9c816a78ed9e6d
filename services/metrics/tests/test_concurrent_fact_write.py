"""A flow figure that another transaction changes while a batch's upsert is in flight fails the
batch (``pg.ConcurrentFactWrite``) instead of adding to a figure the batch never read.

``_SAVE_FIGURES`` reads the held figures from its statement's snapshot and then upserts; under
READ COMMITTED the upsert waits for another transaction's row lock and then updates the latest
committed version — not the one it read. Here that other transaction is held open on purpose:
the batch's statement is seen waiting for its lock before it commits, so the race always
happens, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_common.db import create_engine
from ioc_common.timeutil import Granularity
from ioc_metrics.core import Figure, Held, plan_facts
from ioc_metrics.db import pg_transaction
from ioc_metrics.facts import Fact, Part, fact_key_of, period_tag
from ioc_metrics.pg import ConcurrentFactWrite, PostgresStore

pytestmark = pytest.mark.connected

_INDICATOR = "cashless_transactions"
_UNIT = "02233"


def _flow(num: int, observed_at: date, revision: int = 1) -> Fact:
    return Fact(
        indicator=_INDICATOR,
        part=Part.FLOW,
        unit_code=_UNIT,
        scope=f"08/071/{_UNIT}",
        series="",
        observed_at=observed_at,
        granularity=Granularity.MONTH,
        num=Decimal(num),
        den=None,
        revision=revision,
        received_at=datetime(2025, 3, 1, tzinfo=UTC),
        event_id=uuid.uuid4(),
        source="dept-a",
        fact_key=fact_key_of(Part.FLOW, "", period_tag(observed_at, Granularity.MONTH), "dept-a"),
    )


def _figures(*facts: Fact) -> list[Figure]:
    plan = plan_facts(facts)  # as core builds a batch's figures
    assert plan.superseded == 0
    return plan.figures


async def _save(engine: AsyncEngine, figures: Sequence[Figure]) -> list[Held | None]:
    async with pg_transaction(engine) as conn:
        return await PostgresStore(conn).save_flow_figures(figures)


async def _stored(engine: AsyncEngine) -> dict[str, tuple[int, Decimal]]:
    async with pg_transaction(engine) as conn:
        rows = await conn.fetch(
            "SELECT fact_key, revision, num FROM metrics_facts WHERE indicator = $1",
            _INDICATOR,
        )
    return {r["fact_key"]: (r["revision"], r["num"]) for r in rows}


async def _wait_until_blocked(
    engine: AsyncEngine, waiter: asyncio.Future[int], blocker: int, task: asyncio.Task[Any]
) -> None:
    """Until the backend ``waiter`` gives waits for a lock that the backend ``blocker`` holds
    (about 10 s at most)."""
    async with engine.connect() as conn:
        # Outside a transaction: each poll reads pg_stat_activity afresh (a transaction would
        # keep the first reading).
        observer: Any = (await conn.get_raw_connection()).driver_connection
        for _ in range(1000):
            if task.done():
                break  # it did not wait: its result (or error) tells why
            if waiter.done() and await observer.fetchval(
                "SELECT a.wait_event_type = 'Lock' AND $2 = ANY(pg_blocking_pids(a.pid))"
                " FROM pg_stat_activity a WHERE a.pid = $1",
                waiter.result(),
                blocker,
            ):
                return
            await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    pytest.fail(f"the batch's statement never waited for the other transaction's lock ({task})")


async def test_a_flow_figure_changed_by_another_transaction_mid_statement_fails_the_batch(
    fresh_database_url: str,
) -> None:
    engine = create_engine(fresh_database_url)
    february, march = date(2025, 2, 1), date(2025, 3, 1)
    contested = _flow(10, february)
    try:
        assert await _save(engine, _figures(contested)) == [None]
        # The batch: a figure of the same identity and revision (it adds: 10 + 3 expected) and
        # a figure of a new identity (inserted), in one statement.
        batch = _figures(_flow(3, february), _flow(7, march))
        key, fresh_key = (f.fact.fact_key for f in batch)

        pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def batch_in_its_transaction() -> list[Held | None]:
            async with pg_transaction(engine) as conn:
                pid.set_result(conn.get_server_pid())
                return await PostgresStore(conn).save_flow_figures(batch)

        async with pg_transaction(engine) as other:
            # Another transaction (a rebalance's overlap) changes the figure, uncommitted.
            await other.execute(
                "UPDATE metrics_facts SET num = num + 5"
                " WHERE indicator = $1 AND unit_code = $2 AND fact_key = $3",
                _INDICATOR,
                _UNIT,
                key,
            )
            task = asyncio.create_task(batch_in_its_transaction())
            # The batch's snapshot read 10; its upsert now waits for the other's row lock.
            await _wait_until_blocked(engine, pid, other.get_server_pid(), task)
        # The other transaction committed 15: the upsert wrote 15 + 3, not the 10 + 3 it meant.
        with pytest.raises(ConcurrentFactWrite, match=re.escape(f"{key}: held ")):
            await task
        # Rolled back: the other transaction's figure stands, the new identity was not kept.
        assert await _stored(engine) == {key: (1, Decimal(15))}

        # Retried without a concurrent change, the same batch is saved, added to what it read.
        assert await _save(engine, batch) == [Held(1, Decimal(15), None), None]
        assert await _stored(engine) == {key: (1, Decimal(18)), fresh_key: (1, Decimal(7))}
    finally:
        await engine.dispose()
