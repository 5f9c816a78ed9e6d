"""Consuming with manual offsets.

Services that need exactly-once effects store offsets in their own database transaction and
hand an ``on_assign`` callback that returns those offsets; the helper seeks to them whenever
partitions are assigned, so a restart or rebalance resumes exactly where the last commit was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from ioc_common.kafka.records import ConsumedRecord
from ioc_common.logs import get_logger

log = get_logger("ioc.kafka.consumer")

Partition = tuple[str, int]
#: Given newly assigned partitions, return the next offset to read for those it knows.
OnAssign = Callable[[set[Partition]], Awaitable[dict[Partition, int]]]
OnRevoke = Callable[[set[Partition]], Awaitable[None]]


class Consumer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(self, timeout_ms: int, max_records: int) -> list[ConsumedRecord]: ...

    async def commit(self, offsets: dict[Partition, int]) -> None:
        """Commit next-offsets to the broker's group (for consumers that keep no own store)."""
        ...

    def assignment(self) -> set[Partition]: ...


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KafkaConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        parts = {(tp.topic, tp.partition) for tp in revoked}
        if parts and self._owner.on_revoke is not None:
            await self._owner.on_revoke(parts)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        parts = {(tp.topic, tp.partition) for tp in assigned}
        log.info("kafka.partitions_assigned", partitions=sorted(parts))
        if parts and self._owner.on_assign is not None:
            stored = await self._owner.on_assign(parts)
            for (topic, partition), offset in stored.items():
                self._owner.raw.seek(TopicPartition(topic, partition), offset)


class KafkaConsumer:
    def __init__(
        self,
        bootstrap_servers: str,
        topics: Iterable[str],
        *,
        group_id: str | None,
        client_id: str = "ioc",
        on_assign: OnAssign | None = None,
        on_revoke: OnRevoke | None = None,
        auto_offset_reset: str = "earliest",
        max_partition_fetch_bytes: int = 1_048_576,
    ) -> None:
        self.topics = tuple(topics)
        self.on_assign = on_assign
        self.on_revoke = on_revoke
        self.raw = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            max_partition_fetch_bytes=max_partition_fetch_bytes,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
        )

    async def start(self) -> None:
        await self.raw.start()
        self.raw.subscribe(list(self.topics), listener=_Listener(self))

    async def stop(self) -> None:
        await self.raw.stop()

    async def getmany(self, timeout_ms: int, max_records: int) -> list[ConsumedRecord]:
        batches = await self.raw.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return [
            ConsumedRecord(
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                key=m.key.decode("utf-8", "replace") if m.key is not None else None,
                value=m.value if m.value is not None else b"",
                timestamp_ms=m.timestamp,
                headers=tuple(m.headers or ()),
            )
            for messages in batches.values()
            for m in messages
        ]

    async def commit(self, offsets: dict[Partition, int]) -> None:
        await self.raw.commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})

    def assignment(self) -> set[Partition]:
        return {(tp.topic, tp.partition) for tp in self.raw.assignment()}
