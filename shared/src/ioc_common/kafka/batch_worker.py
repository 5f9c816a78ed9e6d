"""The transactional batch worker: one consumed batch → one database transaction, exactly once
in effect. The metrics service (aggregation) and the alerts service (evaluation) run on it; they
bring only their handler.

Per batch::

    getmany ──► BEGIN ─► handler.handle(tx, batch)   the service's rows and outbox rows;
                │                                    batch.reject(record, reason, detail) for
                │                                    records no retry can mend
                ├─► rejected records → ioc.dlq.v1    acknowledged before the offsets move
                ├─► offsets → the offset table       the same transaction (``stored_offsets``)
                └─► COMMIT ─► group commit           best effort: the table is the truth, the
                              handler.committed()    group's offsets serve lag tools and
                                                     ``lag.LagMonitor``
                              drain the outbox       (``outbox.drain_outbox``), also idle

- A failed attempt (database or broker away, a bug) rolls back and the SAME batch is tried
  again after the shared back-off (``backoff``); nothing newer is read meanwhile, so a partition
  never skips ahead. Records already dead-lettered for the batch are not sent twice.
- Records that can never be processed are dead-lettered with their reason and the batch goes
  on: they never stall a partition.
- On partition assignment the consumer seeks to the stored offsets.
- ``stop()`` lets the in-flight batch finish (or fail) whole; past the timeout it is cancelled,
  which rolls its transaction back — never half a batch committed.

Overlap (throughput without giving up the order): while a batch's transaction waits on the
database, the next batch is already fetched and, with ``prepare``, decoded (CPU work that needs
no transaction) in slices that keep the loop responsive. After a full batch (a backlog) the
outbox is drained by its own task beside the next batch; after a smaller one (live) before it,
so the live feed never waits a transaction for it; the group commit likewise.
A prefetched batch from before a rebalance is dropped (the new assignment re-reads from the
stored offsets).

Beginning early (under a backlog, with ``begin``): a handler whose transactions start with a
step that only ever waits on the batch before it (the metrics service claims its events' ids)
has that step of the next batch run in the next batch's own transaction, on a second
connection, while the current batch finishes::

    batch N   ──► begin ─┬─ handle ─ offsets ─ COMMIT ─ committed() ─┐
    batch N+1            └─► begin (waits on N's rows, never N on it) └─► handle ─ …

Only a batch at least half the batch size begins early (under a backlog); it is then not
topped up (its records are claimed already). A live batch is smaller and begins in turn.

N+1 begins only after N's ``begin`` returned, so N never waits on anything N+1 holds; N+1
goes on only after N committed and ``committed()`` ran, so the handler sees its batches one
after the other as before. If N fails, N+1's transaction is rolled back before N is tried
again (else N could wait on N+1's rows while N+1 waits for N); so is the transaction of a
batch dropped by a rebalance.

Nothing per record happens here: the batch is a list, the offsets a dict per partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from ioc_common.collector import YOUNG_THRESHOLD, tune_for_batches
from ioc_common.kafka.backoff import Backoff
from ioc_common.kafka.consumer import Consumer, Partition
from ioc_common.kafka.dead_letters import Rejected, dead_letters
from ioc_common.kafka.publisher import Publisher
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.kafka.stored_offsets import OffsetStore
from ioc_common.logs import get_logger

log = get_logger("ioc.kafka.batch_worker")

Tx = TypeVar("Tx")
Tx_contra = TypeVar("Tx_contra", contravariant=True)
R = TypeVar("R")


@dataclass(slots=True)
class Batch:
    """One consumed batch, as the handler sees it."""

    records: list[ConsumedRecord]
    #: Records set aside in the current attempt (reset at each attempt).
    rejected: list[Rejected] = field(default_factory=list)
    #: Seconds the last attempt's transaction took from its ``handle`` on (handler, dead
    #: letters, offsets, commit; not its ``begin``, which may run beside the batch before).
    transaction_s: float = 0.0
    #: What the worker's ``prepare`` made of the records before the transaction (decoded
    #: events, say); None when there is no ``prepare`` or it has not run.
    prepared: Any = None
    #: The consumer's assignment generation when the records were fetched.
    generation: int = 0
    #: What the handler's ``begin`` made of the batch in the current attempt (reset at each
    #: attempt, like ``rejected``): the handler's ``handle`` finds it there.
    begun: Any = None
    _dead_lettered: set[tuple[str, int, int]] = field(default_factory=set)
    _next_offsets: dict[Partition, int] | None = None

    def reject(self, record: ConsumedRecord, reason: str, detail: str) -> None:
        """Set a record aside for ``ioc.dlq.v1``: it can never be processed."""
        self.rejected.append(Rejected(record, reason, detail))

    def next_offsets(self) -> dict[Partition, int]:
        """Per partition, the offset after the batch's last record (worked out once: the
        transaction and the group commit both ask, and a batch holds thousands of records)."""
        if self._next_offsets is None:
            offsets: dict[Partition, int] = {}
            for r in self.records:
                part = (r.topic, r.partition)
                if r.offset >= offsets.get(part, 0):
                    offsets[part] = r.offset + 1
            self._next_offsets = offsets
        return dict(self._next_offsets)


class BatchHandler(Protocol[Tx_contra, R]):
    """The service's part."""

    async def handle(self, tx: Tx_contra, batch: Batch) -> R:
        """Write the batch's effects (and outbox rows) in ``tx``; reject what can never be
        processed. Raise to have the whole batch rolled back and tried again."""
        ...

    async def committed(self, batch: Batch, result: R) -> None:
        """After the commit (instruments, caches, logs). A failure here is only logged."""
        ...


@dataclass(slots=True)
class Turn:
    """Where one attempt at a batch stands, for the attempt at the next batch begun beside it."""

    #: Its ``begin`` returned: the next batch may begin.
    begun: asyncio.Event = field(default_factory=asyncio.Event)
    #: It committed and the handler's ``committed`` ran: the next batch may go on.
    committed: asyncio.Event = field(default_factory=asyncio.Event)


async def apply_batch(
    batch: Batch,
    offsets: OffsetStore[Tx],
    handler: BatchHandler[Tx, R],
    publisher: Publisher,
    *,
    consumer: str,
    begin: Callable[[Tx, Batch], Awaitable[None]] | None = None,
    turn: Turn | None = None,
    after: Turn | None = None,
) -> R:
    """One attempt at a batch, all or nothing: the handler's ``begin`` (if any), its effects,
    the dead letters of what it rejected (acknowledged before the offsets move past them) and
    the next offsets, in one transaction. Raises (everything rolled back) if any part fails.
    ``turn``: this attempt's, told when ``begin`` returned; ``after``: the previous batch's,
    whose commit this attempt waits for after its ``begin`` (beginning early)."""
    batch.rejected = []
    batch.begun = None
    async with offsets.transaction() as tx:
        if begin is not None:
            await begin(tx, batch)
        if turn is not None:
            turn.begun.set()
        if after is not None:
            await after.committed.wait()
        started = time.perf_counter()
        result = await handler.handle(tx, batch)
        if batch.rejected:
            sent = batch._dead_lettered
            fresh = [
                r
                for r in batch.rejected
                if (r.record.topic, r.record.partition, r.record.offset) not in sent
            ]
            if fresh:  # not again for a batch retried after its dead letters went out
                await publisher.publish_many(dead_letters(fresh, consumer=consumer))
                sent.update((r.record.topic, r.record.partition, r.record.offset) for r in fresh)
        await offsets.save(tx, batch.next_offsets())
    batch.transaction_s = time.perf_counter() - started
    return result


class BatchWorker(Generic[Tx, R]):
    def __init__(
        self,
        *,
        name: str,
        consumer: Consumer,
        publisher: Publisher,
        offsets: OffsetStore[Tx],
        handler: BatchHandler[Tx, R],
        batch_size: int,
        poll_timeout_ms: int = 500,
        drain: Callable[[], Awaitable[int]] | None = None,
        backoff: Backoff | None = None,
        owns_clients: bool = False,
        on_failure: Callable[[BaseException], object] | None = None,
        prepare: Callable[[Batch], Awaitable[None]] | None = None,
        begin: Callable[[Tx, Batch], Awaitable[None]] | None = None,
        young_threshold: int = YOUNG_THRESHOLD,
    ) -> None:
        """``name``: the consumer's name in dead letters and logs (``ioc-metrics``).
        ``owns_clients``: ``run()`` starts the publisher and consumer (retrying until the
        broker answers) and stops them at the end. ``drain``: publishes the service's outbox
        (``outbox.drain_outbox``) after each commit and on idle polls. ``on_failure``: told of
        each failed attempt (a counter). ``prepare``: the handler's work that needs no
        transaction (decoding), run on the next batch while the current one commits; it sets
        ``batch.prepared`` and must yield now and then (``await asyncio.sleep(0)``). Only an
        optimisation: the handler must cope with ``prepared`` None (do the work itself), and
        must not ``reject`` in it (rejections belong to an attempt). ``begin``: the first
        step of each transaction, which may run beside the previous batch's transaction once
        that one's ``begin`` returned (see "Beginning early" above); it may only wait on rows
        an earlier batch wrote, never write what a later step of an earlier batch waits on.
        ``young_threshold``: the collector's, set when the loop starts
        (``ioc_common.collector``)."""
        self.name = name
        self.consumer = consumer
        self.publisher = publisher
        self.offsets = offsets
        self.handler = handler
        self.batch_size = batch_size
        self.poll_timeout_ms = poll_timeout_ms
        self._drain = drain
        self.backoff = backoff or Backoff()
        self.owns_clients = owns_clients
        self.on_failure = on_failure
        self.running = False
        self._prepare = prepare
        self._begin = begin
        #: The next batch's attempt, begun beside the current one (beginning early).
        self._early: _Early[R] | None = None
        self.young_threshold = young_threshold
        # Seek to the stored offsets whenever partitions are assigned.
        consumer.on_assign = self._assigned
        self._generation = 0
        self._pending: Batch | None = None
        self._next: asyncio.Task[Batch | None] | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._drain_wanted = asyncio.Event()
        self._draining = asyncio.Lock()
        #: Offsets for the consumer group not yet committed there, and the task committing.
        self._group_offsets: dict[Partition, int] = {}
        self._group_committer: asyncio.Task[None] | None = None

    async def _assigned(self, partitions: set[Partition]) -> dict[Partition, int]:
        self._generation += 1
        return await self.offsets.load(partitions)

    # --- one batch

    async def step(self) -> int:
        """Handle one batch (the pending one first); return its record count, 0 when idle.
        Raises if the attempt failed: the batch stays pending and nothing moved."""
        batch = self._pending
        if batch is None:
            batch = await self._take_next()
            if batch is None:
                await self._drop_early()
                return 0
            self._pending = batch
        # Fetch (and prepare) the following batch while this one's transaction runs.
        if self._next is None:
            self._next = asyncio.create_task(self._fetch(), name=f"{self.name}-prefetch")
        early = self._early
        if early is not None and early.batch is batch:
            self._early = None
            turn, attempt = early.turn, early.task
        else:
            await self._drop_early()  # begun for a batch that is not this one
            turn = Turn()
            attempt = asyncio.create_task(self._attempt(batch, turn), name=f"{self.name}-batch")
        starter = None
        if self._begin is not None:
            starter = asyncio.create_task(self._begin_next(turn), name=f"{self.name}-early")
        try:
            result = await attempt
        except BaseException:
            await _cancelled(attempt)  # rolled back before anything else moves
            # Before this batch is tried again: the next one's transaction may hold rows
            # this one's ``begin`` will wait on.
            await _cancelled(starter)
            await self._drop_early()
            raise
        await _cancelled(starter)  # too late to begin early: that batch simply begins next
        self._pending = None
        await self._after_commit(batch, result, turn)
        return len(batch.records)

    async def _begin_next(self, after: Turn) -> None:
        """Once the current attempt's ``begin`` returned, begin the next batch's attempt in
        its own transaction if it is at least half full (a backlog; it is then not topped up)
        and of the current assignment; it goes on once the current batch committed. A live
        batch is smaller: it begins in turn, topped up with what arrived meanwhile."""
        await after.begun.wait()
        prefetch = self._next
        if prefetch is None:
            return
        batch = await asyncio.shield(prefetch)  # step takes it too (``_take_next``)
        if (
            batch is None
            or 2 * len(batch.records) < self.batch_size
            or batch.generation != self._generation
        ):
            return
        turn = Turn()
        task = asyncio.create_task(self._attempt(batch, turn, after), name=f"{self.name}-batch")
        self._early = _Early(batch, turn, task)

    async def _drop_early(self) -> None:
        """Roll back the transaction of the batch begun early, if any (it is begun again
        when its turn comes, or re-read after a rebalance)."""
        early, self._early = self._early, None
        if early is not None:
            await _cancelled(early.task)
            log.info("kafka.early_batch_rolled_back", consumer=self.name)

    async def _fetch(self) -> Batch | None:
        records = await self.consumer.getmany(
            timeout_ms=self.poll_timeout_ms, max_records=self.batch_size
        )
        if not records:
            return None
        # The generation the records were handed out in: an assignment (and its seek) during
        # the poll came before them, one after it makes them stale.
        batch = Batch(records, generation=self._generation)
        if self._prepare is not None:
            try:
                await self._prepare(batch)
            except Exception as exc:  # the handler does the work itself, in the transaction
                batch.prepared = None
                log.warning("kafka.prepare_failed", consumer=self.name, error=repr(exc)[:300])
        return batch

    async def _take_next(self) -> Batch | None:
        task, self._next = self._next, None
        batch = await task if task is not None else None
        if batch is None:
            # The prefetch found nothing when it polled, maybe long ago: poll now. (A step
            # right after records arrived must see them — tests step one batch at a time.)
            batch = await self._fetch()
        elif (
            len(batch.records) < self.batch_size
            and batch.generation == self._generation
            and (self._early is None or self._early.batch is not batch)  # its records claimed
        ):
            batch = await self._top_up(batch)
        if batch is not None and batch.generation != self._generation:
            # Fetched before a rebalance: the assignment re-reads from the stored offsets.
            log.info("kafka.prefetch_dropped", consumer=self.name, records=len(batch.records))
            return None
        return batch

    async def _top_up(self, batch: Batch) -> Batch:
        """The prefetched batch and what arrived since, up to ``batch_size``. The prefetch
        polled when the previous transaction began: without this, a record arriving during
        that transaction would wait for one more whole batch (at 1,000 events/s, most of the
        live feed's latency). The handler then prepares the joined batch itself."""
        more = await self.consumer.getmany(
            timeout_ms=0, max_records=self.batch_size - len(batch.records)
        )
        if not more:
            return batch
        if batch.generation != self._generation:
            # Reassigned during this poll: the prefetched records are stale (the assignment
            # re-reads them from the stored offsets); these came after its seek.
            return Batch(more, generation=self._generation)
        return Batch([*batch.records, *more], generation=batch.generation)

    async def _attempt(self, batch: Batch, turn: Turn, after: Turn | None = None) -> R:
        return await apply_batch(
            batch,
            self.offsets,
            self.handler,
            self.publisher,
            consumer=self.name,
            begin=self._begin,
            turn=turn,
            after=after,
        )

    async def _after_commit(self, batch: Batch, result: R, turn: Turn) -> None:
        # The handler first, before any network wait: its counters then move with the
        # committed offsets (a reader who sees the offsets sees the counts too).
        try:
            await self.handler.committed(batch, result)
        except Exception as exc:  # the batch is committed: never redo it for this
            log.error("kafka.after_commit_failed", consumer=self.name, error=repr(exc))
        turn.committed.set()  # a batch begun early goes on
        # For lag tools only (the table is what the worker resumes from). After a full batch
        # (a backlog) beside the next batch: a broker round trip the backlog need not wait for.
        self._group_offsets.update(batch.next_offsets())
        if self._group_committer is None or self._group_committer.done():
            self._group_committer = asyncio.create_task(
                self._commit_group(), name=f"{self.name}-group-commit"
            )
        if not self._backlog(len(batch.records)):
            await asyncio.shield(self._group_committer)

    def _backlog(self, records: int) -> bool:
        """A full batch: more are waiting, so what follows a commit (drain, group commit) may
        run beside the next batch; after a smaller one (live) it runs before it."""
        return records >= self.batch_size

    async def _commit_group(self) -> None:
        """Commit the latest offsets to the consumer group until none are left (those of
        batches committed meanwhile are taken together)."""
        while self._group_offsets:
            offsets, self._group_offsets = self._group_offsets, {}
            try:
                await self.consumer.commit(offsets)
            except Exception as exc:
                log.warning(
                    "kafka.group_commit_failed", consumer=self.name, error=type(exc).__name__
                )

    async def drain(self) -> int:
        """Publish the outbox (if any); a failure is logged and retried at the next drain.
        One drain at a time, so records leave in the outbox's order."""
        if self._drain is None:
            return 0
        try:
            async with self._draining:
                return await self._drain()
        except Exception as exc:  # the rows stay in the outbox
            log.warning("kafka.outbox_drain_failed", consumer=self.name, error=type(exc).__name__)
            return 0

    # --- the loop

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"{self.name}-batches")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Let the in-flight batch finish whole; past ``timeout_s`` cancel it (rolled back)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        if self.owns_clients and not await self._connect():
            return
        self.running = True
        tune_for_batches(self.young_threshold)  # ioc_common.collector
        log.info("kafka.batch_worker_started", consumer=self.name)
        if self._drain is not None:
            self._drainer = asyncio.create_task(self._drain_loop(), name=f"{self.name}-outbox")
        try:
            while not self._stopping.is_set():
                try:
                    records = await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._failed(exc)
                    await self.backoff.wait(self._stopping)
                    continue
                self.backoff.reset()
                if self._backlog(records) and self._drainer is not None:
                    # The drain task publishes this commit beside the next batch (in commit
                    # order: one drain at a time).
                    self._drain_wanted.set()
                else:
                    # Live: publish what this commit wrote before the next batch begins;
                    # drained beside it, its records waited for the event loop between the
                    # batch's statements (hundreds of ms of a live feed's latency).
                    await self.drain()
        finally:
            self.running = False
            self._pending = None  # abandoned uncommitted: re-read from the stored offsets
            await self._drop_early()
            if self._next is not None:
                self._next.cancel()
                with contextlib.suppress(BaseException):
                    await self._next
            if self._drainer is not None:  # let it finish its drain (it holds rows locked)
                self._drain_wanted.set()
                with contextlib.suppress(BaseException):
                    await self._drainer
            self._next = self._drainer = None
            await self.drain()  # what the last commits left, while the publisher still runs
            if self._group_committer is not None:
                with contextlib.suppress(BaseException):
                    await self._group_committer
            if self.owns_clients:
                with contextlib.suppress(Exception):
                    await self.consumer.stop()
                with contextlib.suppress(Exception):
                    await self.publisher.stop()
            log.info("kafka.batch_worker_stopped", consumer=self.name)

    async def _drain_loop(self) -> None:
        """Publish the outbox on idle polls (what a failed drain or another writer left); the
        loop drains right after each commit itself."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain_wanted.wait(), self.poll_timeout_ms / 1000)
            self._drain_wanted.clear()
            await self.drain()
            if self._stopping.is_set():
                return

    def _failed(self, exc: BaseException) -> None:
        pending = self._pending
        log.error(
            "kafka.batch_failed",
            consumer=self.name,
            error=type(exc).__name__,
            detail=str(exc)[:500],
            records=len(pending.records) if pending else 0,
            attempt=self.backoff.failures,
        )
        if self.on_failure is not None:
            self.on_failure(exc)

    async def _connect(self) -> bool:
        while not self._stopping.is_set():
            try:
                await self.publisher.start()
                await self.consumer.start()
                self.backoff.reset()
                return True
            except Exception as exc:  # broker not up yet: keep trying, the API keeps serving
                log.warning(
                    "kafka.connect_failed",
                    consumer=self.name,
                    error=type(exc).__name__,
                    attempt=self.backoff.failures,
                )
                with contextlib.suppress(Exception):
                    await self.publisher.stop()
                await self.backoff.wait(self._stopping)
        return False


@dataclass(slots=True)
class _Early(Generic[R]):
    """An attempt at the next batch, begun beside the current one."""

    batch: Batch
    turn: Turn
    task: asyncio.Task[R]


async def _cancelled(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task and wait for its end (a transaction's rollback), whatever it raised; a
    cancellation of the caller still reaches the caller."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved: a failure of its own is the attempt's, logged there
