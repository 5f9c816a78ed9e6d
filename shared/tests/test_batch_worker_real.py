"""The transactional batch worker on the real Apache Kafka broker and PostgreSQL: a failed
attempt is retried whole without moving the stored offsets, poison goes to ``ioc.dlq.v1`` and
the records after it are processed, the outbox leaves after the commit, and a worker stopped
mid-batch leaves the committed state exact for the next one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from ioc_common.db import create_engine, pg_transaction
from ioc_common.events import DeadLetter
from ioc_common.kafka.admin import ensure_topics
from ioc_common.kafka.backoff import Backoff
from ioc_common.kafka.batch_worker import Batch, BatchWorker
from ioc_common.kafka.consumer import KafkaConsumer
from ioc_common.kafka.outbox import Outbox, drain_outbox
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import ConsumedRecord, OutgoingRecord
from ioc_common.kafka.stored_offsets import PgOffsets
from ioc_common.testing import HandlerControls
from ioc_common.topics import DLQ

pytestmark = pytest.mark.connected

#: Polls allowed for the group to be joined and records to arrive (each up to 500 ms).
POLLS = 120


class Totals(HandlerControls):
    """Adds each record's value to its key's total in ``worker_totals`` and writes one outbox
    row per batch; ``poison`` is rejected."""

    async def handle(self, tx: Any, batch: Batch) -> int:
        self.entered.set()
        totals: dict[str, int] = {}
        for r in batch.records:
            try:
                value = int(r.value)
            except ValueError as exc:
                batch.reject(r, "undecodable", str(exc))
                continue
            totals[r.key or ""] = totals.get(r.key or "", 0) + value
        await tx.execute(
            "INSERT INTO worker_totals (key, total) SELECT * FROM unnest($1::text[], $2::bigint[])"
            " ON CONFLICT (key) DO UPDATE SET total = worker_totals.total + EXCLUDED.total",
            list(totals),
            list(totals.values()),
        )
        await tx.execute(
            "INSERT INTO metrics_outbox (key, value) VALUES ($1, $2)",
            "071",
            str(sum(totals.values())).encode(),
        )
        await self.hold_or_fail()
        return len(batch.records)

    async def committed(self, batch: Batch, result: int) -> None:
        return None


async def totals(engine: Any) -> dict[str, int]:
    async with pg_transaction(engine) as conn:
        rows = await conn.fetch("SELECT key, total FROM worker_totals")
    return {r["key"]: r["total"] for r in rows}


async def step_until_records(worker: BatchWorker[Any, int]) -> int:
    for _ in range(POLLS):
        handled = await worker.step()
        if handled:
            return handled
    raise AssertionError("no records arrived")


async def read_all(
    bootstrap: str, topic: str, count: int, mine: Callable[[ConsumedRecord], bool] = bool
) -> list[ConsumedRecord]:
    """The topic's records that are ``mine``, once ``count`` of them arrived."""
    consumer = KafkaConsumer(bootstrap, [topic], group_id=f"read-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    got: list[ConsumedRecord] = []
    try:
        for _ in range(POLLS):
            got += [r for r in await consumer.getmany(timeout_ms=500, max_records=1000) if mine(r)]
            if len(got) >= count:
                break
    finally:
        await consumer.stop()
    return got


async def test_the_worker_on_kafka_and_postgres(
    kafka_bootstrap: str, fresh_database_url: str
) -> None:
    topic, out = f"test.worker.{uuid.uuid4().hex[:8]}", f"test.worker.out.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic, out, DLQ], partitions=1)
    engine = create_engine(fresh_database_url)
    async with pg_transaction(engine) as conn:
        await conn.execute("CREATE TABLE worker_totals (key text PRIMARY KEY, total bigint)")
    group = f"worker-{uuid.uuid4().hex[:8]}"
    offsets = PgOffsets(engine, "metrics_offsets", group)
    publisher = KafkaPublisher(kafka_bootstrap)
    await publisher.start()
    handler = Totals()
    outbox = Outbox("metrics_outbox", out)

    def worker_for() -> tuple[BatchWorker[Any, int], KafkaConsumer]:
        consumer = KafkaConsumer(kafka_bootstrap, [topic], group_id=group)
        worker: BatchWorker[Any, int] = BatchWorker(
            name="test-worker",
            consumer=consumer,
            publisher=publisher,
            offsets=offsets,
            handler=handler,
            batch_size=1000,
            drain=lambda: drain_outbox(engine, publisher, outbox),
            backoff=Backoff(rand=lambda: 0.0),
        )
        return worker, consumer

    values = [b"1", b"2", b"poison", b"3", b"4"]
    await publisher.publish_many([OutgoingRecord(topic, v, key="071") for v in values])
    worker, consumer = worker_for()
    await consumer.start()
    try:
        # 1. The first attempt fails after writing: rolled back, offsets not moved.
        handler.failures_left = 1
        with pytest.raises(ConnectionError):
            await step_until_records(worker)
        assert await totals(engine) == {}
        assert await offsets.load({(topic, 0)}) == {}

        # 2. The same batch again: applied once; the poison dead-lettered, the rest counted.
        assert await worker.step() == 5
        assert await totals(engine) == {"071": 10}
        assert await offsets.load({(topic, 0)}) == {(topic, 0): 5}
        assert await worker.drain() == 1
    finally:
        await consumer.stop()
    letters = [
        DeadLetter.model_validate_json(r.value)
        for r in await read_all(kafka_bootstrap, DLQ, 1, lambda r: topic.encode() in r.value)
    ]
    assert [(d.topic, d.offset, d.reason, d.consumer) for d in letters] == [
        (topic, 2, "undecodable", "test-worker")
    ]
    (update,) = await read_all(kafka_bootstrap, out, 1)
    assert update.value == b"10"

    # 3. Stopped mid-batch: nothing of that batch is committed; the next worker resumes from
    #    the stored offsets and the totals stay exact.
    await publisher.publish_many([OutgoingRecord(topic, b"100", key="071")])
    handler.gate = asyncio.Event()
    handler.entered.clear()
    worker, consumer = worker_for()
    await consumer.start()
    worker.start()
    await handler.entered.wait()
    await worker.stop(timeout_s=0)
    await consumer.stop()
    assert await totals(engine) == {"071": 10}
    assert await offsets.load({(topic, 0)}) == {(topic, 0): 5}

    handler.gate = None
    worker, consumer = worker_for()
    await consumer.start()
    try:
        assert await step_until_records(worker) == 1
    finally:
        await consumer.stop()
    assert await totals(engine) == {"071": 110}
    assert await offsets.load({(topic, 0)}) == {(topic, 0): 6}
    await publisher.stop()
    await engine.dispose()
