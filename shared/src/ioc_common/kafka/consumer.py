"""Consuming with manual offsets.

Services that need exactly-once effects store offsets in their own database transaction and
hand an ``on_assign`` callback that returns those offsets; the helper seeks to them whenever
partitions are assigned, so a restart or rebalance resumes exactly where the last commit was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from ioc_common.kafka.records import ConsumedRecord
from ioc_common.logs import get_logger

#: Records taken from the fetched buffer per step of ``KafkaConsumer.getmany``.
_GETMANY_STEP = 500
#: Builds a ``ConsumedRecord`` without its generated ``__new__`` (a Python function, ≈ 3× the
#: tuple's cost; a batch builds thousands).
_NEW_RECORD: Final = tuple.__new__

log = get_logger("ioc.kafka.consumer")

Partition = tuple[str, int]
#: Given newly assigned partitions, return the next offset to read for those it knows.
OnAssign = Callable[[set[Partition]], Awaitable[dict[Partition, int]]]
OnRevoke = Callable[[set[Partition]], Awaitable[None]]


class Consumer(Protocol):
    #: Called with newly assigned partitions; the consumer seeks to the offsets it returns.
    on_assign: OnAssign | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(self, timeout_ms: int, max_records: int) -> list[ConsumedRecord]: ...

    async def commit(self, offsets: dict[Partition, int]) -> None:
        """Commit next-offsets to the broker's group (for consumers that keep no own store)."""
        ...

    def assignment(self) -> set[Partition]: ...

    async def end_offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """Each partition's current end, asked of the broker."""
        ...


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
        security: Mapping[str, Any] | None = None,
    ) -> None:
        """``security``: ``ioc_common.kafka.client_security(settings)``; None is PLAINTEXT."""
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
            **dict(security or {}),
        )

    async def start(self) -> None:
        await self.raw.start()
        self.raw.subscribe(list(self.topics), listener=_Listener(self))

    async def stop(self) -> None:
        await self.raw.stop()

    async def getmany(self, timeout_ms: int, max_records: int) -> list[ConsumedRecord]:
        """Up to ``max_records``, waiting up to ``timeout_ms`` for the first: taken from the
        fetched buffer ``_GETMANY_STEP`` at a time with a yield between, so a large batch
        does not hold the event loop (5,000 records at once held it ≈ 13 ms, which a running
        transaction's replies waited behind)."""
        out: list[ConsumedRecord] = []
        timeout = timeout_ms
        while len(out) < max_records:
            step = min(_GETMANY_STEP, max_records - len(out))
            batches = await self.raw.getmany(timeout_ms=timeout, max_records=step)
            got = len(out)
            out.extend(
                # The fields in ``ConsumedRecord``'s order.
                _NEW_RECORD(
                    ConsumedRecord,
                    (
                        m.topic,
                        m.partition,
                        m.offset,
                        m.key.decode("utf-8", "replace") if m.key is not None else None,
                        m.value if m.value is not None else b"",
                        m.timestamp,
                        tuple(m.headers) if m.headers else (),
                    ),
                )
                for messages in batches.values()
                for m in messages
            )
            if len(out) - got < step:
                break  # the buffer is empty: take what is there
            timeout = 0
            await asyncio.sleep(0)
        return out

    async def commit(self, offsets: dict[Partition, int]) -> None:
        await self.raw.commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})

    def assignment(self) -> set[Partition]:
        return {(tp.topic, tp.partition) for tp in self.raw.assignment()}

    async def end_offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        ends = await self.raw.end_offsets([TopicPartition(t, p) for t, p in partitions])
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def log_offsets(self) -> dict[Partition, tuple[int, int]]:
        """(first, end) offsets at the broker of every partition of the consumer's topics, for
        the lag monitor (``ioc_common.kafka.lag``); not only the partitions assigned here."""
        tps = [
            TopicPartition(topic, partition)
            for topic in self.topics
            for partition in sorted(self.raw.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return {}
        first = await self.raw.beginning_offsets(tps)
        end = await self.raw.end_offsets(tps)
        return {(tp.topic, tp.partition): (first[tp], end[tp]) for tp in tps}

    async def committed(self, partitions: set[Partition]) -> dict[Partition, int]:
        """The group's committed next offsets at the broker, for the partitions it committed."""
        found: dict[Partition, int] = {}
        for topic, partition in sorted(partitions):
            offset = await self.raw.committed(TopicPartition(topic, partition))
            if offset is not None:
                found[(topic, partition)] = int(offset)
        return found
