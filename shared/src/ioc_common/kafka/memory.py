"""In-memory fakes of the publisher, the consumer and a database's offset store, for fast unit
tests.

They keep Kafka's shape — partitions chosen by key, per-group committed offsets, an
``available`` switch that makes publishing fail as a dead broker would — so the code under
test cannot tell them from the real thing; the same behaviour is also tested on real Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from ioc_common.errors import BrokerUnavailable
from ioc_common.kafka.consumer import OnAssign, Partition
from ioc_common.kafka.records import ConsumedRecord, OutgoingRecord, RecordMeta


class InMemoryBroker:
    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.logs: dict[Partition, list[ConsumedRecord]] = defaultdict(list)
        self.group_offsets: dict[str, dict[Partition, int]] = defaultdict(dict)
        self.available = True
        self._arrived = asyncio.Event()

    def partition_for(self, key: str | None) -> int:
        return zlib.crc32(key.encode()) % self.partitions if key is not None else 0

    def append(self, record: OutgoingRecord) -> RecordMeta:
        part = (record.topic, self.partition_for(record.key))
        log = self.logs[part]
        log.append(
            ConsumedRecord(
                topic=record.topic,
                partition=part[1],
                offset=len(log),
                key=record.key,
                value=record.value,
                timestamp_ms=int(time.time() * 1000),
                headers=record.headers,
            )
        )
        self._arrived.set()
        return RecordMeta(record.topic, part[1], len(log) - 1)

    def records(self, topic: str) -> list[ConsumedRecord]:
        """Everything on a topic, partition by partition (order within a partition kept)."""
        return [r for (t, _), log in sorted(self.logs.items()) if t == topic for r in log]

    async def wait_for_records(self, timeout_s: float) -> None:
        self._arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout_s)


class InMemoryPublisher:
    def __init__(self, broker: InMemoryBroker) -> None:
        self.broker = broker
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[RecordMeta]:
        if not self.broker.available:
            raise BrokerUnavailable(
                "Kafka (giả lập) không hoạt động", "The in-memory broker is unavailable"
            )
        return [self.broker.append(r) for r in records]

    async def is_ready(self) -> bool:
        return self.broker.available


class InMemoryConsumer:
    def __init__(
        self,
        broker: InMemoryBroker,
        topics: Iterable[str],
        *,
        group_id: str,
        on_assign: OnAssign | None = None,
    ) -> None:
        self.broker = broker
        self.topics = tuple(topics)
        self.group_id = group_id
        self.on_assign = on_assign
        self.positions: dict[Partition, int] = {}

    async def start(self) -> None:
        parts = {(t, p) for t in self.topics for p in range(self.broker.partitions)}
        committed = self.broker.group_offsets[self.group_id]
        self.positions = {p: committed.get(p, 0) for p in parts}
        if self.on_assign is not None:
            self.positions.update(await self.on_assign(parts))

    async def stop(self) -> None:
        self.positions = {}

    async def getmany(self, timeout_ms: int, max_records: int) -> list[ConsumedRecord]:
        out = self._take(max_records)
        if not out and timeout_ms > 0:
            await self.broker.wait_for_records(timeout_ms / 1000)
            out = self._take(max_records)
        return out

    def _take(self, max_records: int) -> list[ConsumedRecord]:
        out: list[ConsumedRecord] = []
        for part, pos in sorted(self.positions.items()):
            log = self.broker.logs.get(part, [])
            chunk = log[pos : pos + max_records - len(out)]
            out.extend(chunk)
            self.positions[part] = pos + len(chunk)
            if len(out) >= max_records:
                break
        return out

    async def commit(self, offsets: dict[Partition, int]) -> None:
        self.broker.group_offsets[self.group_id].update(offsets)

    def assignment(self) -> set[Partition]:
        return set(self.positions)

    async def end_offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        return {p: len(self.broker.logs.get(p, ())) for p in partitions}


class InMemoryTransaction:
    """What a batch's transaction sees: copies of the store's rows and offsets, each taken when
    it is first read (as a database's statement sees what committed before it: a transaction
    begun beside another sees that one's rows once it committed)."""

    def __init__(self, store: InMemoryOffsetStore) -> None:
        self._store = store
        #: The store's attributes read so far, copied: what a commit writes back.
        self._copies: dict[str, dict[Any, int]] = {}

    def _copy(self, name: str) -> dict[Any, int]:
        copy = self._copies.get(name)
        if copy is None:
            copy = self._copies[name] = dict(getattr(self._store, name))
        return copy

    @property
    def rows(self) -> dict[str, int]:
        return self._copy("rows")

    @property
    def offsets(self) -> dict[Partition, int]:
        return self._copy("offsets")

    def commit(self) -> None:
        """The copies replace the store's committed state (what was never read is kept)."""
        for name, copy in self._copies.items():
            setattr(self._store, name, copy)


class InMemoryOffsetStore:
    """An ``OffsetStore`` (``ioc_common.kafka.stored_offsets``) on dicts: a transaction works on
    copies that replace the committed state only when its block ends without an exception
    (a cancelled or failed attempt leaves nothing behind), like a database's."""

    def __init__(self) -> None:
        #: The handler's committed effects (a counter per name, say).
        self.rows: dict[str, int] = {}
        self.offsets: dict[Partition, int] = {}
        self.commits = 0
        #: Transactions whose block ended with an exception (a failure or a cancellation).
        self.rollbacks = 0

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[InMemoryTransaction]:
        tx = InMemoryTransaction(self)
        try:
            yield tx
        except BaseException:
            self.rollbacks += 1
            raise
        await asyncio.sleep(0)  # a commit is a round trip: others may run meanwhile
        tx.commit()
        self.commits += 1

    def transaction(self) -> contextlib.AbstractAsyncContextManager[InMemoryTransaction]:
        return self._transaction()

    async def load(self, partitions: set[Partition]) -> dict[Partition, int]:
        return {p: o for p, o in self.offsets.items() if p in partitions}

    async def save(self, tx: InMemoryTransaction, offsets: Mapping[Partition, int]) -> None:
        for part, offset in offsets.items():
            tx.offsets[part] = max(tx.offsets.get(part, 0), offset)
