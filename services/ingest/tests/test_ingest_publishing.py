"""Concurrent requests go to different producers, each request whole to one of them; a
producer that could not start is started by the next ``start``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ioc_common.errors import BrokerUnavailable
from ioc_common.kafka.records import OutgoingRecord, RecordMeta
from ioc_ingest.publishing import PooledPublisher


class Member:
    def __init__(self, name: int, refuse_start: bool = False) -> None:
        self.name = name
        self.refuse_start = refuse_start
        self.starts = 0
        self.calls: list[list[bytes]] = []
        self.release = asyncio.Event()

    async def start(self) -> None:
        if self.refuse_start:
            raise BrokerUnavailable("Kafka", "broker down")
        self.starts += 1

    async def stop(self) -> None:
        pass

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[RecordMeta]:
        self.calls.append([r.value for r in records])
        await self.release.wait()
        return [RecordMeta(r.topic, self.name, n) for n, r in enumerate(records)]

    async def is_ready(self) -> bool:
        return True


def records(*values: bytes) -> list[OutgoingRecord]:
    return [OutgoingRecord("t", v, key="071") for v in values]


async def test_concurrent_requests_spread_over_the_producers_each_request_whole() -> None:
    members = [Member(n) for n in range(3)]
    made = iter(members)
    pool = PooledPublisher(lambda: next(made), 3)
    await pool.start()
    tasks = [
        asyncio.create_task(pool.publish_many(records(b"a%d" % n, b"b%d" % n))) for n in range(3)
    ]
    await asyncio.sleep(0)
    assert [len(m.calls) for m in members] == [1, 1, 1]  # none waits behind another
    assert sorted(c for m in members for c in m.calls) == [
        [b"a%d" % n, b"b%d" % n] for n in range(3)
    ]
    for m in members:
        m.release.set()
    metas = await asyncio.gather(*tasks)
    assert sorted(meta[0].partition for meta in metas) == [0, 1, 2]


async def test_a_producer_that_did_not_start_is_started_by_the_next_start() -> None:
    members = [Member(0), Member(1, refuse_start=True)]
    made = iter(members)
    pool = PooledPublisher(lambda: next(made), 2)
    with pytest.raises(BrokerUnavailable):
        await pool.start()
    assert not await pool.is_ready()
    members[1].refuse_start = False
    await pool.start()
    assert [m.starts for m in members] == [1, 1]
    assert await pool.is_ready()
