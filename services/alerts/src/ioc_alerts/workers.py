"""The service's background loops: consume metric updates, sweep, group and dispatch
notifications, publish alert events. Each loop survives a failed round (the database or the
broker down for a while) and tries again."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Awaitable, Callable

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
        records = await self.consumer.getmany(timeout_ms=500, max_records=500)
        if not records:
            return 0
        updates: list[MetricUpdated] = []
        bad: list[tuple[ConsumedRecord, str]] = []
        for record in records:
            try:
                updates.append(MetricUpdated.model_validate_json(record.value))
            except ValidationError as err:
                bad.append((record, str(err)[:2000]))
        if bad:
            await self._dead_letter(bad)
        async with transaction(self.sessions) as session:
            keys = await record_updates(session, updates)
            changes = await self.evaluator.evaluate(session, keys)
        self.metrics.metric_updates.labels("ok").inc(len(updates))
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
            keys = await self.evaluator.sweep_keys(session)
        changed = 0
        # One transaction per key keeps locks short while the consumer works too.
        for key in sorted(keys):
            async with transaction(self.sessions) as session:
                changed += len(await self.evaluator.evaluate(session, [key]))
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
