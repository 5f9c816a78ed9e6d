"""The in-memory fakes keep Kafka's shape: partition by key, group offsets, a dead broker."""

from __future__ import annotations

import pytest

from ioc_common.errors import BrokerUnavailable
from ioc_common.kafka.memory import InMemoryBroker, InMemoryConsumer, InMemoryPublisher
from ioc_common.kafka.records import OutgoingRecord


async def test_same_key_same_partition_in_order() -> None:
    broker = InMemoryBroker(partitions=4)
    pub = InMemoryPublisher(broker)
    metas = await pub.publish_many(
        [OutgoingRecord("t", f"{i}".encode(), key="071") for i in range(5)]
    )
    assert len({m.partition for m in metas}) == 1
    assert [m.offset for m in metas] == [0, 1, 2, 3, 4]


async def test_consumer_resumes_from_offsets_given_on_assign() -> None:
    broker = InMemoryBroker(partitions=1)
    pub = InMemoryPublisher(broker)
    await pub.publish_many([OutgoingRecord("t", f"{i}".encode(), key="k") for i in range(6)])

    async def stored(parts: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {p: 4 for p in parts}

    consumer = InMemoryConsumer(broker, ["t"], group_id="g", on_assign=stored)
    await consumer.start()
    got = await consumer.getmany(timeout_ms=0, max_records=100)
    assert [r.value for r in got] == [b"4", b"5"]


async def test_dead_broker_raises_broker_unavailable() -> None:
    broker = InMemoryBroker()
    broker.available = False
    with pytest.raises(BrokerUnavailable) as caught:
        await InMemoryPublisher(broker).publish_many([OutgoingRecord("t", b"x")])
    assert caught.value.status == 503
    assert caught.value.retriable
