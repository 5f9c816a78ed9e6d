"""The service's background loops: consume metric updates, sweep, group and dispatch
notifications, publish alert events. Each loop survives a failed round (the database or the
broker down for a while) and tries again."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Awaitable, Callable, Collection, Sequence

import orjson
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_alerts import tables as t
from ioc_alerts.dispatcher import Dispatcher
from ioc_alerts.engine import Evaluator, queue_repeats, record_updates
from ioc_alerts.observability import AlertsMetrics
from ioc_common.db import transaction
from ioc_common.events import DeadLetter, MetricUpdated, encode_event
from ioc_common.kafka.consumer import Consumer
from ioc_common.kafka.publisher import Publisher
from ioc_common.kafka.records import ConsumedRecord, OutgoingRecord
from ioc_common.logs import get_logger
from ioc_common.timeutil import utc_now
from ioc_common.topics import ALERTS, DLQ

log = get_logger("ioc.alerts.workers")

#: Keys judged per sweep transaction.
SWEEP_SLICE = 500
PERIOD_MAX = 16  # alerts_observations.period
INT4_MAX = 2**31 - 1


def parse_updates(
    records: Sequence[ConsumedRecord], wanted: Collection[str]
) -> tuple[list[MetricUpdated], list[tuple[ConsumedRecord, str]], int]:
    """(valid updates of indicators some target watches, unreadable records with why, how
    many were skipped). An update of an indicator no enabled target uses is skipped after a
    bare JSON parse, before the model's validation (on a busy topic, most updates are)."""
    updates: list[MetricUpdated] = []
    bad: list[tuple[ConsumedRecord, str]] = []
    skipped = 0
    for record in records:
        try:
            doc = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            doc = None
        indicator = doc.get("indicator") if isinstance(doc, dict) else None
        if isinstance(indicator, str) and indicator not in wanted:
            skipped += 1
            continue
        try:
            update = MetricUpdated.model_validate_json(record.value)
        except ValidationError as err:
            bad.append((record, str(err)[:2000]))
            continue
        # What the tables cannot hold would fail the batch's transaction at every retry and
        # stall the partition: dead-letter it here instead.
        if len(update.period) > PERIOD_MAX or update.version > INT4_MAX:
            bad.append((record, "period longer than 16 characters or version beyond int4"))
            continue
        updates.append(update)
    return updates, bad, skipped


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
    ) -> None:
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
        self.batch_size = batch_size
        self._pending: list[ConsumedRecord] | None = None
        self._pending_dead_lettered = False

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop("consume", self.consume_once, 0.0), name="consume"),
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
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _loop(
        self, name: str, once: Callable[[], Awaitable[object]], pause_s: float, wake: bool = False
    ) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as err:
                failures += 1
                log.error("alerts.loop_failed", loop=name, error=str(err), exc_info=failures == 1)
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
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
        """One batch: record and judge it in one transaction, then commit its offsets.

        A batch whose transaction failed is kept and tried again before anything newer is
        read (the consumer's position is already past it: dropping it would lose it)."""
        records = self._pending or await self.consumer.getmany(
            timeout_ms=500, max_records=self.batch_size
        )
        if not records:
            return 0
        self._pending = records
        async with transaction(self.sessions) as session:
            targets = await self.evaluator.targets.current(session)
            updates, bad, skipped = parse_updates(records, targets.indicators)
            if bad and not self._pending_dead_lettered:
                await self._dead_letter(bad)
                self._pending_dead_lettered = True
            keys = await record_updates(session, updates)
            changes = await self.evaluator.evaluate(session, keys)
        self._pending = None
        self._pending_dead_lettered = False
        self.metrics.metric_updates.labels("ok").inc(len(updates))
        self.metrics.metric_updates.labels("skipped").inc(skipped)
        self.metrics.evaluations.labels("event").inc(len(keys))
        offsets: dict[tuple[str, int], int] = {}
        for record in records:
            part = (record.topic, record.partition)
            offsets[part] = max(offsets.get(part, 0), record.offset + 1)
        # Offsets after the database commit: a crash in between re-reads, and re-evaluating is
        # harmless (the same state is reached; notifications are keyed by alert version).
        await self.consumer.commit(offsets)
        if changes:
            self.wake_dispatch.set()
        return len(records)

    async def _dead_letter(self, bad: list[tuple[ConsumedRecord, str]]) -> None:
        now = utc_now()
        self.metrics.metric_updates.labels("invalid").inc(len(bad))
        await self.publisher.publish_many(
            [
                OutgoingRecord(
                    DLQ,
                    encode_event(
                        DeadLetter(
                            topic=r.topic,
                            partition=r.partition,
                            offset=r.offset,
                            key=r.key,
                            reason="invalid_metric_update",
                            detail=reason,
                            original_b64=base64.b64encode(r.value).decode(),
                            consumer="ioc-alerts",
                            failed_at=now,
                        )
                    ),
                    r.key,
                )
                for r, reason in bad
            ]
        )

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

    async def publish_once(self, batch: int = 500) -> int:
        e = t.event_outbox
        async with transaction(self.sessions) as session:
            rows = (
                await session.execute(
                    sa.select(e.c.id, e.c.key, e.c.value)
                    .where(e.c.published_at.is_(None))
                    .order_by(e.c.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await self.publisher.publish_many(
                [OutgoingRecord(ALERTS, bytes(r.value), r.key) for r in rows]
            )
            await session.execute(
                sa.update(e).where(e.c.id.in_([r.id for r in rows])).values(published_at=utc_now())
            )
        self.metrics.events_published.inc(len(rows))
        return len(rows)
