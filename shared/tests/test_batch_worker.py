"""The transactional batch worker on the in-memory broker and offset store (the same behaviour
once more on real Kafka and PostgreSQL: ``test_batch_worker_real.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ioc_common.events import DeadLetter
from ioc_common.kafka.backoff import Backoff
from ioc_common.kafka.batch_worker import Batch, BatchWorker
from ioc_common.kafka.memory import (
    InMemoryBroker,
    InMemoryConsumer,
    InMemoryOffsetStore,
    InMemoryPublisher,
    InMemoryTransaction,
)
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.testing import HandlerControls
from ioc_common.topics import DLQ

TOPIC = "test.worker.v1"


class Counter(HandlerControls):
    """Adds each record's value (an integer) to its key's total; ``poison`` is rejected."""

    def __init__(self) -> None:
        super().__init__()
        self.done: list[int] = []
        #: Set once this many records were committed.
        self.expected = 0
        self.finished = asyncio.Event()

    async def handle(self, tx: InMemoryTransaction, batch: Batch) -> int:
        self.entered.set()
        for r in batch.records:
            if r.value == b"poison":
                batch.reject(r, "undecodable", "not a number")
                continue
            tx.rows[r.key or ""] = tx.rows.get(r.key or "", 0) + int(r.value)
        await self.hold_or_fail()
        return len(batch.records)

    async def committed(self, batch: Batch, result: int) -> None:
        self.done.append(result)
        if self.expected and sum(self.done) >= self.expected:
            self.finished.set()


def worker_on(
    broker: InMemoryBroker,
    store: InMemoryOffsetStore,
    handler: Counter,
    batch_size: int = 100,
    *,
    poll_timeout_ms: int = 10,
    drain: Callable[[], Awaitable[int]] | None = None,
    begin: Callable[[InMemoryTransaction, Batch], Awaitable[None]] | None = None,
) -> tuple[BatchWorker[InMemoryTransaction, int], InMemoryConsumer]:
    consumer = InMemoryConsumer(broker, [TOPIC], group_id="g")
    worker: BatchWorker[InMemoryTransaction, int] = BatchWorker(
        name="test-worker",
        consumer=consumer,
        publisher=InMemoryPublisher(broker),
        offsets=store,
        handler=handler,
        batch_size=batch_size,
        poll_timeout_ms=poll_timeout_ms,
        drain=drain,
        backoff=Backoff(rand=lambda: 0.0),  # no waiting between attempts
        begin=begin,
    )
    return worker, consumer


async def publish(broker: InMemoryBroker, *values: bytes, key: str = "071") -> None:
    await InMemoryPublisher(broker).publish_many([OutgoingRecord(TOPIC, v, key) for v in values])


async def test_records_that_arrive_after_the_prefetch_join_the_next_batch() -> None:
    """The next batch is prefetched as a transaction begins; what arrives during that
    transaction joins it (up to the batch size) rather than waiting one more batch."""
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Counter()
    worker, consumer = worker_on(broker, store, handler, batch_size=4)
    await consumer.start()
    await publish(broker, b"1")
    handler.gate = asyncio.Event()
    step = asyncio.create_task(worker.step())
    await handler.entered.wait()  # the first batch's transaction runs; the prefetch polls
    await publish(broker, b"2")
    await asyncio.sleep(0.02)  # the prefetch has taken "2"
    await publish(broker, b"3", b"4", b"5", b"6")
    handler.gate.set()
    assert await step == 1
    assert await worker.step() == 4  # "2", then "3" to "5" topped up to the batch size
    assert await worker.step() == 1
    assert handler.done == [1, 4, 1]


async def test_a_live_commit_is_drained_before_the_next_batch_begins() -> None:
    """After a batch smaller than the batch size (live: no backlog), the outbox its commit
    filled is published before the next batch's transaction starts, not beside it (where its
    records waited on that transaction's turns of the event loop)."""
    broker, store = InMemoryBroker(partitions=1), InMemoryOffsetStore()
    seen: list[str] = []

    class Recording(Counter):
        async def handle(self, tx: InMemoryTransaction, batch: Batch) -> int:
            seen.append("batch")
            if seen.count("batch") < 3:  # the next records arrive while this batch runs
                await publish(broker, b"1", b"1")
            return await super().handle(tx, batch)

    async def drain() -> int:
        seen.append("drain")
        return 0

    handler = Recording()
    handler.expected = 6
    # A poll timeout of 1 s: no idle drain inside the test.
    worker, consumer = worker_on(broker, store, handler, 10, poll_timeout_ms=1_000, drain=drain)
    await consumer.start()
    await publish(broker, b"1", b"1")
    worker.start()
    await handler.finished.wait()
    await worker.stop()
    assert handler.done == [2, 2, 2]
    assert seen[:6] == ["batch", "drain"] * 3


async def test_under_a_backlog_the_next_batch_does_not_wait_for_the_drain() -> None:
    """After a full batch (more are waiting) the drain task publishes its commit while the
    next batch runs: a slow broker does not hold the backlog's batches up. Drains still run
    one at a time, so records leave in commit order."""
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Counter()
    handler.expected = 6
    in_drain = 0
    most_in_drain = 0

    async def slow_drain() -> int:
        nonlocal in_drain, most_in_drain
        in_drain += 1
        most_in_drain = max(most_in_drain, in_drain)
        await handler.finished.wait()  # until every batch committed
        in_drain -= 1
        return 0

    worker, consumer = worker_on(broker, store, handler, 2, poll_timeout_ms=1_000, drain=slow_drain)
    await consumer.start()
    await publish(broker, *[b"1"] * 6)
    worker.start()
    await asyncio.wait_for(handler.finished.wait(), 5)
    await worker.stop()
    assert handler.done == [2, 2, 2]
    assert most_in_drain == 1


async def test_the_handler_hears_of_a_commit_before_the_group_commit_is_sent() -> None:
    """Counters move with the stored offsets: a reader who sees a batch's offsets committed
    (the metrics tests wait on the offsets table) also sees its counts, however long the
    broker's group commit takes (CI once read ``/metrics`` in that window)."""
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Counter()
    worker, consumer = worker_on(broker, store, handler)
    heard_when_group_commit_sent: list[list[int]] = []
    plain_commit = consumer.commit

    async def noting_commit(offsets: dict[tuple[str, int], int]) -> None:
        heard_when_group_commit_sent.append(list(handler.done))
        await plain_commit(offsets)

    consumer.commit = noting_commit  # type: ignore[method-assign]
    await consumer.start()
    await publish(broker, b"1", b"2")
    assert await worker.step() == 2
    assert heard_when_group_commit_sent == [[2]]


async def test_a_failed_batch_is_retried_whole_without_moving_offsets() -> None:
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Counter()
    worker, consumer = worker_on(broker, store, handler)
    await consumer.start()
    await publish(broker, b"1", b"2", b"3")
    handler.failures_left = 1
    with pytest.raises(ConnectionError):
        await worker.step()
    assert (store.rows, store.offsets, broker.group_offsets["g"]) == ({}, {}, {})

    await publish(broker, b"100")  # newer: not read before the failed batch is through
    assert await worker.step() == 3
    assert store.rows == {"071": 6}
    assert store.offsets == {(TOPIC, 0): 3}
    assert broker.group_offsets["g"] == {(TOPIC, 0): 3}  # for lag tools, after the commit
    assert await worker.step() == 1
    assert (store.rows, handler.done) == ({"071": 106}, [3, 1])


async def test_poison_is_dead_lettered_once_and_later_records_processed() -> None:
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Counter()
    worker, consumer = worker_on(broker, store, handler)
    await consumer.start()
    await publish(broker, b"5", b"poison", b"7")
    handler.failures_left = 1  # fails after the dead letter went out: not sent twice
    with pytest.raises(ConnectionError):
        await worker.step()
    assert await worker.step() == 3
    assert store.rows == {"071": 12}
    assert store.offsets == {(TOPIC, 0): 3}
    (letter,) = [DeadLetter.model_validate_json(r.value) for r in broker.records(DLQ)]
    assert (letter.reason, letter.offset, letter.consumer, letter.key) == (
        "undecodable",
        1,
        "test-worker",
        "071",
    )


async def test_assignment_seeks_to_the_stored_offsets_not_the_groups() -> None:
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Counter()
    await publish(broker, b"1", b"2", b"3", b"4")
    store.offsets = {(TOPIC, 0): 2}  # committed with the effects
    broker.group_offsets["g"] = {(TOPIC, 0): 0}  # the group's lags behind (best effort)
    worker, consumer = worker_on(broker, store, handler)
    await consumer.start()
    assert await worker.step() == 2
    assert store.rows == {"071": 7}


async def test_the_loop_retries_with_back_off_until_the_batch_commits() -> None:
    broker, store, handler = InMemoryBroker(partitions=2), InMemoryOffsetStore(), Counter()
    worker, consumer = worker_on(broker, store, handler, batch_size=3)
    await consumer.start()
    await publish(broker, *[b"1"] * 10, key="071")
    await publish(broker, *[b"2"] * 10, key="072")
    handler.failures_left = 5
    handler.expected = 20
    worker.start()
    await handler.finished.wait()
    await worker.stop()
    assert store.rows == {"071": 10, "072": 20}
    assert worker.backoff.failures == 0  # reset by the success


async def test_stop_mid_batch_commits_nothing_of_it() -> None:
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Counter()
    worker, consumer = worker_on(broker, store, handler)
    await consumer.start()
    await publish(broker, b"1", b"2")
    assert await worker.step() == 2
    handler.gate = asyncio.Event()  # the next batch hangs inside its transaction
    handler.entered.clear()
    await publish(broker, b"10", b"20")
    worker.start()
    await handler.entered.wait()
    await worker.stop(timeout_s=0)  # abandoned: cancelled inside the transaction
    assert (store.rows, store.offsets, store.commits) == ({"071": 3}, {(TOPIC, 0): 2}, 1)

    handler.gate = None  # a new worker resumes from the stored offsets: exact totals
    again, consumer = worker_on(broker, store, handler)
    await consumer.start()
    assert await again.step() == 2
    assert store.rows == {"071": 33}


async def test_a_step_sees_records_published_after_an_idle_prefetch() -> None:
    """The prefetch started beside a batch may poll and find nothing; records published after
    that are handled by the next step, not missed by it (a flake seen in CI under load)."""
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Counter()
    worker, consumer = worker_on(broker, store, handler)
    await consumer.start()
    await publish(broker, b"1")
    assert await worker.step() == 1
    await asyncio.sleep(0.05)  # the prefetch's 10 ms poll has come back empty by now
    await publish(broker, b"2")
    assert await worker.step() == 1
    assert handler.done == [1, 1]


class Claiming(Counter):
    """A handler whose transactions begin with a step (``begin``) that the worker may run
    beside the previous batch's transaction; records what happened in which order."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        #: Set when the batch beginning with this value has begun.
        self.begun: dict[bytes, asyncio.Event] = {}

    def name(self, batch: Batch) -> str:
        return batch.records[0].value.decode()

    async def begin(self, tx: InMemoryTransaction, batch: Batch) -> None:
        self.seen.append(f"begin {self.name(batch)}")
        batch.begun = self.name(batch)
        self.begun.setdefault(batch.records[0].value, asyncio.Event()).set()

    async def handle(self, tx: InMemoryTransaction, batch: Batch) -> int:
        assert batch.begun == self.name(batch)  # this attempt's begin ran, in this transaction
        self.seen.append(f"handle {self.name(batch)}")
        return await super().handle(tx, batch)

    async def committed(self, batch: Batch, result: int) -> None:
        self.seen.append(f"committed {self.name(batch)}")
        await super().committed(batch, result)


async def test_a_backlog_batch_begins_beside_the_one_before_and_goes_on_after_its_commit() -> None:
    """Beginning early: the next batch's ``begin`` (a backlog's: at least half the batch size)
    runs in its own transaction while the current batch is still in its own; its ``handle``
    waits until the current one committed and the handler heard of it. A smaller batch (live)
    does not begin early."""
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Claiming()
    worker, consumer = worker_on(broker, store, handler, batch_size=4, begin=handler.begin)
    await consumer.start()
    await publish(broker, *[b"1"] * 4, *[b"2"] * 2)
    handler.gate = asyncio.Event()  # the first batch holds inside its transaction
    first = asyncio.create_task(worker.step())
    await asyncio.wait_for(handler.begun.setdefault(b"2", asyncio.Event()).wait(), 5)
    assert handler.seen == ["begin 1", "handle 1", "begin 2"]
    await publish(broker, b"3")  # would top a live batch up
    handler.gate.set()
    assert await first == 4
    handler.gate = None
    assert await worker.step() == 2  # not topped up: its records were claimed
    assert await worker.step() == 1
    assert handler.seen == [
        "begin 1", "handle 1", "begin 2", "committed 1", "handle 2", "committed 2",
        "begin 3", "handle 3", "committed 3",
    ]  # fmt: skip
    assert (store.rows, store.offsets, store.rollbacks) == ({"071": 11}, {(TOPIC, 0): 7}, 0)


async def test_when_a_batch_fails_the_batch_begun_beside_it_is_rolled_back_first() -> None:
    """If the current batch fails after the next one began beside it, the next one's
    transaction is rolled back before the current one is tried again (its rows may be what
    the retry waits on); both are then done once, in order, and the totals are exact."""
    broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Claiming()
    worker, consumer = worker_on(broker, store, handler, batch_size=2, begin=handler.begin)
    await consumer.start()
    await publish(broker, b"1", b"1", b"2", b"2")
    handler.gate = asyncio.Event()
    handler.failures_left = 1
    first = asyncio.create_task(worker.step())
    await asyncio.wait_for(handler.begun.setdefault(b"2", asyncio.Event()).wait(), 5)
    handler.gate.set()
    with pytest.raises(ConnectionError):
        await first
    assert store.rollbacks == 2  # the failed batch's transaction, and the one begun beside it
    assert (store.rows, store.offsets, store.commits) == ({}, {}, 0)
    handler.gate = None
    assert await worker.step() == 2
    assert await worker.step() == 2
    assert handler.seen == [
        "begin 1", "handle 1", "begin 2",  # 1 fails: 2 is rolled back
        "begin 1", "handle 1", "begin 2", "committed 1", "handle 2", "committed 2",
    ]  # fmt: skip
    assert (store.rows, store.offsets) == ({"071": 6}, {(TOPIC, 0): 4})


async def test_stopping_rolls_back_the_batch_begun_early() -> None:
    """A worker stopped mid-batch lets that batch finish (or, past the timeout, rolls it back)
    but never commits the batch begun beside it: a new worker redoes what is left from the
    stored offsets, exactly."""
    for patience_s, committed_first in ((5.0, True), (0.0, False)):
        broker, store, handler = InMemoryBroker(partitions=1), InMemoryOffsetStore(), Claiming()
        worker, consumer = worker_on(broker, store, handler, batch_size=2, begin=handler.begin)
        await consumer.start()
        await publish(broker, b"1", b"1", b"2", b"2")
        handler.gate = asyncio.Event()
        worker.start()
        await asyncio.wait_for(handler.begun.setdefault(b"2", asyncio.Event()).wait(), 5)
        stopping = asyncio.create_task(worker.stop(timeout_s=patience_s))
        await asyncio.sleep(0.01)
        handler.gate.set()  # with patience, batch 1 commits; batch 2 must not
        await stopping
        await asyncio.sleep(0.05)
        expected = ({"071": 2}, {(TOPIC, 0): 2}, 1) if committed_first else ({}, {}, 0)
        assert (store.rows, store.offsets, store.commits) == expected
        assert store.rollbacks == 1 if committed_first else 2

        handler.gate = None
        again, consumer = worker_on(broker, store, handler, batch_size=2, begin=handler.begin)
        await consumer.start()
        while store.offsets.get((TOPIC, 0)) != 4:
            assert await again.step() == 2
        assert (store.rows, store.offsets) == ({"071": 6}, {(TOPIC, 0): 4})
