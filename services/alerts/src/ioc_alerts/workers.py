"""The service's background loops: consume metric updates, sweep, group and dispatch
notifications, publish alert events. Each loop survives a failed round (the database or the
broker down for a while) and tries again after the shared back-off.

Consuming runs on the shared transactional batch worker (``ioc_common.kafka.batch_worker``):
a batch's updates are recorded and judged in one transaction that also stores the offsets in
``alerts_offsets``; unreadable records go to ``ioc.dlq.v1``. This module brings the judging.

A record is a ``MetricUpdates`` (``ioc.metrics.updated.v2``): one unit's changes from one of the
metrics service's batches, in order; its updates join the batch's list in that order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ioc_alerts.dispatcher import Dispatcher
from ioc_alerts.evaluator import Evaluator
from ioc_alerts.notifications import queue_repeats
from ioc_alerts.observability import AlertsMetrics
from ioc_alerts.observations import record_updates
from ioc_common.db import transaction
from ioc_common.kafka.backoff import Backoff
from ioc_common.kafka.batch_worker import Batch, BatchWorker
from ioc_common.kafka.consumer import Consumer
from ioc_common.kafka.outbox import Outbox, drain_outbox
from ioc_common.kafka.publisher import Publisher
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.kafka.stored_offsets import SessionOffsets
from ioc_common.logs import get_logger
from ioc_common.timeutil import utc_now
from ioc_common.topics import ALERTS
from ioc_common.wire import MetricUpdate, decode_metric_updates

log = get_logger("ioc.alerts.workers")

#: Keys judged per sweep transaction.
SWEEP_SLICE = 500
PERIOD_MAX = 16  # alerts_observations.period
INT4_MAX = 2**31 - 1
#: The consumer's name in dead letters (and its default group).
CONSUMER = "ioc-alerts"
OFFSETS_TABLE = "alerts_offsets"
#: Alert events leave through this outbox (drained by the publish loop: the sweep and the
#: operators' actions fill it too).
EVENT_OUTBOX = Outbox("alerts_event_outbox", ALERTS, chunk=500)


def parse_updates(
    records: Sequence[ConsumedRecord], wanted: Collection[str]
) -> tuple[list[MetricUpdate], list[tuple[ConsumedRecord, str]], int]:
    """(valid updates of indicators some target watches, in the records' order; records to
    dead-letter with why; how many updates were skipped).

    A record that is not a valid ``MetricUpdates`` is dead-lettered whole, none of its updates
    recorded (``ioc_common.wire.decode_metric_updates``: fast for the canonical form, the
    contract model's reasons otherwise). An update of an indicator no enabled target uses is
    skipped (on a busy topic, most updates are). An update the tables cannot hold is left out
    and its record dead-lettered saying which; the record's other updates are recorded."""
    updates: list[MetricUpdate] = []
    bad: list[tuple[ConsumedRecord, str]] = []
    skipped = 0
    for record in records:
        try:
            every = decode_metric_updates(record.value)
        except ValidationError as err:
            bad.append((record, str(err)[:2000]))
            continue
        mine = [u for u in every if u.indicator in wanted]
        skipped += len(every) - len(mine)
        # What the tables cannot hold would fail the batch's transaction at every retry and
        # stall the partition: dead-letter it here instead.
        fit = [u for u in mine if len(u.period) <= PERIOD_MAX and u.version <= INT4_MAX]
        if len(fit) < len(mine):
            bad.append((record, _UNFIT.format(len(mine) - len(fit), len(mine))))
            mine = fit
        updates.extend(mine)
    return updates, bad, skipped


_UNFIT = (
    "{} of the record's {} watched updates have a period longer than 16 characters or a "
    "version beyond int4: left out, the others recorded"
)


@dataclass(frozen=True, slots=True)
class Judged:
    """What one batch's transaction did, for after its commit."""

    updates: int
    skipped: int
    evaluated: int
    changed: bool


class UpdateJudge:
    """The batch handler: record a batch's metric updates and judge the keys they touch."""

    def __init__(self, evaluator: Evaluator, metrics: AlertsMetrics, wake: asyncio.Event) -> None:
        self.evaluator = evaluator
        self.metrics = metrics
        self.wake = wake

    async def handle(self, session: AsyncSession, batch: Batch) -> Judged:
        targets = await self.evaluator.targets.current(session)
        updates, bad, skipped = parse_updates(batch.records, targets.indicators)
        for record, why in bad:
            batch.reject(record, "invalid_metric_update", why)
        keys = await record_updates(session, updates)
        changes = await self.evaluator.evaluate(session, keys)
        return Judged(len(updates), skipped, len(keys), bool(changes))

    async def committed(self, batch: Batch, judged: Judged) -> None:
        self.metrics.metric_updates.labels("ok").inc(judged.updates)
        self.metrics.metric_updates.labels("skipped").inc(judged.skipped)
        self.metrics.metric_updates.labels("invalid").inc(len(batch.rejected))
        self.metrics.evaluations.labels("event").inc(judged.evaluated)
        if judged.changed:
            self.wake.set()


class Workers:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        consumer: Consumer,
        publisher: Publisher,
        evaluator: Evaluator,
        dispatcher: Dispatcher,
        metrics: AlertsMetrics,
        sweep_interval_s: float,
        dispatch_interval_s: float,
        repeat_interval_s: float,
        batch_size: int = 2000,
        group_id: str = CONSUMER,
    ) -> None:
        """``group_id``: the consumer group, whose offsets ``alerts_offsets`` keeps."""
        self.sessions = sessions
        self.consumer = consumer
        self.publisher = publisher
        self.evaluator = evaluator
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.sweep_interval_s = sweep_interval_s
        self.dispatch_interval_s = dispatch_interval_s
        self.repeat_interval_s = repeat_interval_s
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.wake_dispatch = asyncio.Event()
        self.last_sweep_ok = False
        self.engine: AsyncEngine = sessions.kw["bind"]
        # Re-evaluating a batch whose commit was lost is harmless (the same state is reached;
        # notifications are keyed by alert version), but the offsets are exact anyway.
        self.batches: BatchWorker[AsyncSession, Judged] = BatchWorker(
            name=CONSUMER,
            consumer=consumer,
            publisher=publisher,
            offsets=SessionOffsets(sessions, OFFSETS_TABLE, group_id),
            handler=UpdateJudge(evaluator, metrics, self.wake_dispatch),
            batch_size=batch_size,
            backoff=Backoff(base_s=0.5, cap_s=30.0),
            on_failure=lambda _: metrics.batch_failures.inc(),  # rule IocBatchesFailing
        )

    def start(self) -> None:
        self.batches.start()  # consume
        self._tasks = [
            asyncio.create_task(
                self._loop("sweep", self.sweep_once, self.sweep_interval_s), name="sweep"
            ),
            asyncio.create_task(
                self._loop("dispatch", self.dispatch_once, self.dispatch_interval_s, wake=True),
                name="dispatch",
            ),
            asyncio.create_task(
                self._loop("publish", self.publish_once, self.dispatch_interval_s),
                name="publish",
            ),
        ]

    async def stop(self) -> None:
        self._stopping.set()
        self.wake_dispatch.set()
        await self.batches.stop()  # the in-flight batch finishes whole (or is rolled back)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _loop(
        self, name: str, once: Callable[[], Awaitable[object]], pause_s: float, wake: bool = False
    ) -> None:
        backoff = Backoff(base_s=0.5, cap_s=30.0)
        while not self._stopping.is_set():
            try:
                await once()
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                first = backoff.failures == 0
                log.error("alerts.loop_failed", loop=name, error=str(err), exc_info=first)
                await backoff.wait(self._stopping)
                continue
            if pause_s > 0:
                if wake:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake_dispatch.wait(), pause_s)
                    self.wake_dispatch.clear()
                else:
                    await asyncio.sleep(pause_s)

    # --- one round of each loop

    async def consume_once(self) -> int:
        """One batch (the one whose transaction failed first, before anything newer is read):
        recorded, judged and its offsets stored in one transaction. Raises if it failed."""
        handled: int = await self.batches.step()
        return handled

    async def sweep_once(self) -> int:
        async with transaction(self.sessions) as session:
            keys = sorted(await self.evaluator.sweep_keys(session))
        changed = 0
        # A transaction per slice of keys keeps locks short while the consumer works too.
        for i in range(0, len(keys), SWEEP_SLICE):
            async with transaction(self.sessions) as session:
                changed += len(await self.evaluator.evaluate(session, keys[i : i + SWEEP_SLICE]))
        async with transaction(self.sessions) as session:
            changed += await queue_repeats(session, utc_now(), self.repeat_interval_s)
        self.metrics.evaluations.labels("sweep").inc(len(keys))
        self.last_sweep_ok = True
        if changed:
            self.wake_dispatch.set()
        return changed

    async def dispatch_once(self) -> int:
        await self.dispatcher.group()
        sent = 0
        while True:
            n = await self.dispatcher.dispatch()
            sent += n
            if n == 0:
                break
        async with self.sessions() as session:
            await self.metrics.refresh(session)
        return sent

    async def publish_once(self) -> int:
        """Publish pending alert events (``ioc_common.kafka.outbox``: rows deleted once sent)."""
        published: int = await drain_outbox(
            self.engine, self.publisher, EVENT_OUTBOX, published=self.metrics.events_published.inc
        )
        return published
