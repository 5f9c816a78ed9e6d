"""On the real broker and database: under a backlog the next batch claims its events in its own
transaction while the current batch commits (``BatchWorker(begin=…)``). When the current batch
fails after that, the early transaction is rolled back before the retry (else the retry's claim
would wait on it while it waits for the retry's commit), and every event still counts once."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import pytest

from ioc_common.db import create_engine
from ioc_common.kafka.admin import ensure_topics
from ioc_common.kafka.batch_worker import Batch
from ioc_metrics import processor
from ioc_metrics.app import create_app
from ioc_metrics.config import MetricsSettings
from ioc_metrics.db import pg_transaction
from services.metrics.tests.checks import compared_with_reference
from services.metrics.tests.running import publish, wait_consumed
from services.metrics.tests.streams import make_stream, records

pytestmark = pytest.mark.connected

PROVINCE, YEAR = "92", 2039


async def test_a_batch_failing_beside_one_begun_early_leaves_totals_exact(
    kafka_bootstrap: str, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:8]
    stream = make_stream(8_000, seed=2039, province=PROVINCE, year=YEAR)  # 5% re-sent
    outgoing = records(stream, YEAR)
    topic_of = {r.topic: f"test.early.{suffix}.{r.topic}" for r in outgoing}
    await ensure_topics(kafka_bootstrap, topic_of.values(), partitions=3)
    ends = await publish(kafka_bootstrap, [replace(r, topic=topic_of[r.topic]) for r in outgoing])

    # Batches begin (claim) and hand over to ``handle``; the 2nd and 4th handles fail late in
    # their transaction, once the next batch has begun claiming its events beside them (a
    # claim of a copy of this batch's events waits on this batch).
    begins = handles = begins_before_this_handle = 0
    failed_beside_an_early_batch = 0
    plain = processor.BatchProcessor
    plain_begin, plain_handle, plain_touch = plain.begin, plain.handle, processor.touch_freshness

    async def begin(self: processor.BatchProcessor, tx: Any, batch: Batch) -> None:
        nonlocal begins
        begins += 1
        await plain_begin(self, tx, batch)

    async def handle(self: processor.BatchProcessor, tx: Any, batch: Batch) -> Any:
        nonlocal handles, begins_before_this_handle
        handles += 1
        begins_before_this_handle = begins  # handles run one after the other
        return await plain_handle(self, tx, batch)

    async def touch_or_fail(conn: Any, rows: str) -> None:
        nonlocal failed_beside_an_early_batch
        if handles in (2, 4):
            for _ in range(500):  # until the next batch has begun beside this one
                if begins > begins_before_this_handle:
                    failed_beside_an_early_batch += 1
                    # Its claim runs, or waits on this batch's copies of its events.
                    await asyncio.sleep(0.3)
                    break
                await asyncio.sleep(0.01)
            raise ConnectionError("database went away")
        await plain_touch(conn, rows)

    monkeypatch.setattr(plain, "begin", begin)
    monkeypatch.setattr(plain, "handle", handle)
    monkeypatch.setattr(processor, "touch_freshness", touch_or_fail)

    group = f"metrics-early-{suffix}"
    settings = MetricsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=fresh_database_url,
        group_id=group,
        topics=tuple(sorted(topic_of.values())),
        batch_size=1000,
        poll_timeout_ms=200,
        retry_backoff_max_s=0.2,
    )
    engine = create_engine(fresh_database_url)
    try:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await wait_consumed(engine, group, ends, timeout_s=120)
        _, differences = await compared_with_reference(engine, stream, PROVINCE, YEAR)
        async with pg_transaction(engine) as conn:
            claimed = await conn.fetchval("SELECT count(*) FROM metrics_processed_events")
    finally:
        await engine.dispose()
    assert failed_beside_an_early_batch == 2  # the case under test did happen, twice
    assert claimed == len({(e["source"], e["event_id"]) for e in stream})
    assert differences == []
