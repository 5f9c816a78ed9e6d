"""Publisher and consumer round trips on the real Apache Kafka broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ioc_common.errors import BrokerUnavailable
from ioc_common.infra.process import free_port
from ioc_common.kafka.admin import ensure_topics
from ioc_common.kafka.consumer import KafkaConsumer, Partition
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import ConsumedRecord, OutgoingRecord

pytestmark = pytest.mark.connected


async def consume_until(
    consumer: KafkaConsumer, count: int, timeout_s: float = 30
) -> list[ConsumedRecord]:
    got: list[ConsumedRecord] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        got += await consumer.getmany(timeout_ms=500, max_records=1000)
    return got


async def test_publish_then_consume_round_trip_keeps_key_order(kafka_bootstrap: str) -> None:
    topic = f"test.roundtrip.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    publisher = KafkaPublisher(kafka_bootstrap, idempotence="on")
    await publisher.start()
    assert publisher.idempotent  # Apache Kafka grants InitProducerId
    records = [OutgoingRecord(topic, f"v{i}".encode(), key=f"07{i % 3}") for i in range(30)]
    metas = await publisher.publish_many(records)
    await publisher.stop()
    assert len(metas) == 30

    consumer = KafkaConsumer(kafka_bootstrap, [topic], group_id=f"g-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    try:
        got = await consume_until(consumer, 30)
    finally:
        await consumer.stop()
    assert sorted(r.value for r in got) == sorted(r.value for r in records)
    for key in ("070", "071", "072"):
        mine = [r for r in got if r.key == key]
        assert len({r.partition for r in mine}) == 1
        assert [r.value for r in mine] == [r.value for r in records if r.key == key]


async def test_a_batch_taken_in_steps_keeps_every_record_once_in_order(
    kafka_bootstrap: str,
) -> None:
    """``getmany`` takes a large batch from the fetched buffer a step at a time: across the
    steps (and the calls) no record is lost or repeated, each partition stays in offset order,
    and no call returns more than asked."""
    topic = f"test.steps.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    publisher = KafkaPublisher(kafka_bootstrap)
    await publisher.start()
    sent = 2_600
    await publisher.publish_many(
        [OutgoingRecord(topic, f"{i}".encode(), key=f"k{i % 2}") for i in range(sent)]
    )
    await publisher.stop()

    consumer = KafkaConsumer(kafka_bootstrap, [topic], group_id=f"g-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    got: list[ConsumedRecord] = []
    sizes: list[int] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(got) < sent and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=1_200)
            sizes.append(len(batch))
            got += batch
    finally:
        await consumer.stop()
    assert max(sizes) <= 1_200
    assert max(sizes) > 500  # some call did take more than one step
    assert sorted(int(r.value) for r in got) == list(range(sent))
    for part in {r.partition for r in got}:
        offsets = [r.offset for r in got if r.partition == part]
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))


async def test_consumer_seeks_to_offsets_returned_on_assign(kafka_bootstrap: str) -> None:
    topic = f"test.seek.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    publisher = KafkaPublisher(kafka_bootstrap)
    await publisher.start()
    await publisher.publish_many(
        [OutgoingRecord(topic, f"{i}".encode(), key="k") for i in range(10)]
    )
    await publisher.stop()

    async def stored(parts: set[Partition]) -> dict[Partition, int]:
        return {p: 7 for p in parts}

    consumer = KafkaConsumer(
        kafka_bootstrap, [topic], group_id=f"g-{uuid.uuid4().hex[:6]}", on_assign=stored
    )
    await consumer.start()
    try:
        got = await consume_until(consumer, 3)
    finally:
        await consumer.stop()
    assert [r.value for r in got] == [b"7", b"8", b"9"]


async def test_dead_broker_gives_broker_unavailable_not_success() -> None:
    publisher = KafkaPublisher(
        f"127.0.0.1:{free_port()}", idempotence="off", request_timeout_ms=1000, delivery_timeout_s=3
    )
    with pytest.raises(BrokerUnavailable):
        await publisher.start()
        await publisher.publish_many([OutgoingRecord("ioc.dlq.v1", b"x")])


async def test_a_producer_the_broker_refuses_by_sequence_is_renewed(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a broker restart the idempotent producer's sequence can be refused for good
    (OutOfOrderSequenceNumber; the chaos run saw it answer 503 for 11 s): that write is
    refused, and the next one goes out through a new producer."""
    from aiokafka.errors import OutOfOrderSequenceNumber

    topic = f"test.renew.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    publisher = KafkaPublisher(kafka_bootstrap, idempotence="on")
    await publisher.start()
    try:
        broken = publisher._producer
        assert broken is not None

        async def refused(*args: object, **kwargs: object) -> None:
            raise OutOfOrderSequenceNumber()

        monkeypatch.setattr(broken, "send", refused)
        with pytest.raises(BrokerUnavailable):
            await publisher.publish_many([OutgoingRecord(topic, b"1", key="k")])
        assert publisher._producer is not broken
        (meta,) = await publisher.publish_many([OutgoingRecord(topic, b"2", key="k")])
        assert meta.topic == topic
    finally:
        await publisher.stop()
