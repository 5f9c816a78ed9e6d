"""The lag monitor measures from the broker's end offsets and the group's committed position,
whether or not batches succeed: while nothing is committed (the database away) the lag grows
with every record produced."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prometheus_client import CollectorRegistry, Gauge

from ioc_common.kafka.admin import ensure_topics
from ioc_common.kafka.consumer import KafkaConsumer, Partition
from ioc_common.kafka.lag import LagMonitor
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import OutgoingRecord


def lag_gauge() -> tuple[CollectorRegistry, Gauge]:
    registry = CollectorRegistry()
    gauge = Gauge("test_consumer_lag", "lag", ["topic", "partition"], registry=registry)
    return registry, gauge


def value(registry: CollectorRegistry, topic: str, partition: int) -> float | None:
    labels = {"topic": topic, "partition": str(partition)}
    return registry.get_sample_value("test_consumer_lag", labels)


class FakeBroker:
    def __init__(self) -> None:
        self.offsets: dict[Partition, tuple[int, int]] = {("t", 0): (0, 0), ("t", 1): (5, 5)}

    async def log_offsets(self) -> dict[Partition, tuple[int, int]]:
        return dict(self.offsets)


class Positions:
    def __init__(self) -> None:
        self.stored: dict[Partition, int] = {}
        self.down = False

    async def __call__(self, partitions: set[Partition]) -> dict[Partition, int]:
        if self.down:
            raise ConnectionRefusedError("the database is away")
        return {p: o for p, o in self.stored.items() if p in partitions}


async def test_lag_grows_while_nothing_commits_and_counts_from_the_first_offset() -> None:
    registry, gauge = lag_gauge()
    broker, positions = FakeBroker(), Positions()
    monitor = LagMonitor(broker, gauge, positions)
    assert await monitor.measure() == {("t", 0): 0, ("t", 1): 0}
    assert value(registry, "t", 1) == 0  # every partition has a series from the first round

    broker.offsets = {("t", 0): (0, 100), ("t", 1): (5, 25)}
    positions.stored = {("t", 0): 60}
    assert await monitor.measure() == {("t", 0): 40, ("t", 1): 20}  # never committed: from 5

    positions.down = True  # nothing can be committed now; records keep arriving
    broker.offsets = {("t", 0): (0, 300), ("t", 1): (5, 25)}
    assert await monitor.measure() == {("t", 0): 240, ("t", 1): 20}
    assert value(registry, "t", 0) == 240

    positions.down = False
    positions.stored = {("t", 0): 300, ("t", 1): 25}
    assert await monitor.measure() == {("t", 0): 0, ("t", 1): 0}


async def test_the_monitor_survives_a_broker_that_is_away() -> None:
    class Away:
        async def log_offsets(self) -> dict[Partition, tuple[int, int]]:
            raise ConnectionRefusedError("no broker")

    _, gauge = lag_gauge()
    monitor = LagMonitor(Away(), gauge, Positions(), interval_s=0.01)
    monitor.start()
    await asyncio.sleep(0.05)
    await monitor.stop()  # the loop kept going and stops cleanly


@pytest.mark.connected
async def test_lag_from_a_real_broker_and_the_groups_committed_offsets(
    kafka_bootstrap: str,
) -> None:
    topic = f"test.lag.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    publisher = KafkaPublisher(kafka_bootstrap)
    await publisher.start()
    try:
        await publisher.publish_many([OutgoingRecord(topic, b"x", key=f"k{i}") for i in range(40)])
        consumer = KafkaConsumer(kafka_bootstrap, [topic], group_id=f"g-{uuid.uuid4().hex[:6]}")
        await consumer.start()
        try:
            registry, gauge = lag_gauge()
            monitor = LagMonitor(consumer, gauge, consumer.committed)
            for _ in range(100):  # the metadata of the subscribed topic arrives after start
                if await consumer.log_offsets():
                    break
                await asyncio.sleep(0.1)
            lag = await monitor.measure()
            assert set(lag) == {(topic, 0), (topic, 1)}
            assert sum(lag.values()) == 40  # nothing committed yet

            # A batch is read but never committed (its transaction keeps failing): more
            # records arrive and the lag grows although the consumer reads them.
            got = []
            for _ in range(60):
                got += await consumer.getmany(timeout_ms=500, max_records=1000)
                if len(got) >= 40:
                    break
            await publisher.publish_many(
                [OutgoingRecord(topic, b"y", key=f"k{i}") for i in range(10)]
            )
            assert sum((await monitor.measure()).values()) == 50

            # The batch commits: the lag drops to what is left.
            ends = {p: end for p, (_, end) in (await consumer.log_offsets()).items()}
            first = next(iter(sorted(ends)))
            await consumer.commit({first: ends[first]})
            lag = await monitor.measure()
            assert lag[first] == 0
            assert value(registry, topic, first[1]) == 0
        finally:
            await consumer.stop()
    finally:
        await publisher.stop()
