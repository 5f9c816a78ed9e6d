"""Migration ``0013``: ``metrics_outbox`` rows still pending in the v1 form (one
``MetricUpdated``) become one-update ``MetricUpdates`` records, so the new service publishes
nothing in the old shape on ``ioc.metrics.updated.v2``; the downgrade unwraps them and refuses
while a record of several updates is pending."""

from __future__ import annotations

import asyncio

import pytest

from ioc_common.db import create_engine
from ioc_common.db.migrate import downgrade, upgrade
from ioc_common.events import MetricUpdates
from ioc_metrics.db import pg_transaction
from ioc_metrics.updates import write_updates
from services.metrics.tests.test_update_bytes_match_the_contract import _change

pytestmark = pytest.mark.connected

V1 = (
    b'{"indicator":"bts_sites","unit_code":"071","level":"district","granularity":"month",'
    b'"period":"2024-05","period_start":"2024-05-01","value":3.0,"previous_value":null,'
    b'"numerator":null,"denominator":null,"version":1,"updated_at":"2024-06-03T02:15:00Z"}'
)


async def test_pending_v1_rows_become_one_update_records_and_back(
    fresh_database_url: str,
) -> None:
    engine = create_engine(fresh_database_url)

    async def outbox() -> list[bytes]:
        async with pg_transaction(engine) as conn:
            rows = await conn.fetch("SELECT value FROM metrics_outbox ORDER BY id")
        return [bytes(r["value"]) for r in rows]

    try:
        await asyncio.to_thread(downgrade, fresh_database_url, "0012")
        async with pg_transaction(engine) as conn:
            await conn.execute(
                "INSERT INTO metrics_outbox (key, value) VALUES ('071', $1), ('071', $1)", V1
            )
        await asyncio.to_thread(upgrade, fresh_database_url)
        wrapped = await outbox()
        assert wrapped == [b'{"updates":[' + V1 + b"]}"] * 2
        assert all(len(MetricUpdates.model_validate_json(v).updates) == 1 for v in wrapped)

        await asyncio.to_thread(downgrade, fresh_database_url, "0012")
        assert await outbox() == [V1, V1]

        await asyncio.to_thread(upgrade, fresh_database_url)
        async with pg_transaction(engine) as conn:  # what the new service writes
            await write_updates(
                conn, [_change("08/071", "bts_sites", v, False) for v in (1, 2)], {}
            )
        assert len(MetricUpdates.model_validate_json((await outbox())[-1]).updates) == 2
        with pytest.raises(Exception, match="drain it first"):
            await asyncio.to_thread(downgrade, fresh_database_url, "0012")
    finally:
        await engine.dispose()
