"""Helpers for tests that run the metrics service against the real broker and database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import OutgoingRecord, RecordMeta
from ioc_metrics.db import pg_transaction


async def publish(bootstrap: str, records: Sequence[OutgoingRecord]) -> dict[tuple[str, int], int]:
    """Publish (acks=all); return the next offset after ours per partition."""
    publisher = KafkaPublisher(bootstrap, idempotence="on")
    await publisher.start()
    metas: list[RecordMeta] = []
    try:
        for i in range(0, len(records), 2000):
            metas += await publisher.publish_many(records[i : i + 2000])
    finally:
        await publisher.stop()
    ends: dict[tuple[str, int], int] = {}
    for m in metas:
        ends[(m.topic, m.partition)] = max(ends.get((m.topic, m.partition), 0), m.offset + 1)
    return ends


async def committed(engine: AsyncEngine, group_id: str) -> dict[tuple[str, int], int]:
    async with pg_transaction(engine) as conn:
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset FROM metrics_offsets WHERE group_id = $1",
            group_id,
        )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def wait_consumed(
    engine: AsyncEngine, group_id: str, ends: dict[tuple[str, int], int], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        done = await committed(engine, group_id)
        behind = {p: o for p, o in ends.items() if done.get(p, 0) < o}
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not consumed within {timeout_s}s: {behind} vs {done}")
        await asyncio.sleep(0.5)
