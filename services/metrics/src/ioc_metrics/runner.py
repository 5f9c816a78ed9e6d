"""The consumer loop: poll a batch, process it (retrying until it commits), drain the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import random

from ioc_common.kafka.consumer import Consumer
from ioc_common.kafka.publisher import Publisher
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.logs import get_logger
from ioc_metrics.config import MetricsSettings
from ioc_metrics.instruments import Instruments
from ioc_metrics.processor import BatchProcessor

log = get_logger("ioc.metrics.runner")


class ConsumerLoop:
    def __init__(
        self,
        consumer: Consumer,
        publisher: Publisher,
        processor: BatchProcessor,
        settings: MetricsSettings,
        instruments: Instruments,
    ) -> None:
        self.consumer = consumer
        self.publisher = publisher
        self.processor = processor
        self.settings = settings
        self.instruments = instruments
        self.running = False
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="metrics-consumer")

    async def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _backoff(self, attempt: int) -> None:
        delay = min(self.settings.retry_backoff_max_s, 0.2 * 2**attempt) * random.uniform(0.5, 1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _connect(self) -> bool:
        attempt = 0
        while not self._stopping.is_set():
            try:
                await self.publisher.start()
                await self.consumer.start()
                return True
            except Exception as exc:  # broker not up yet: keep trying, the API keeps serving
                log.warning("metrics.connect_failed", error=type(exc).__name__, attempt=attempt)
                with contextlib.suppress(Exception):
                    await self.publisher.stop()
                attempt += 1
                await self._backoff(attempt)
        return False

    async def run(self) -> None:
        if not await self._connect():
            return
        self.running = True
        log.info("metrics.consumer_started", group_id=self.settings.group_id)
        try:
            while not self._stopping.is_set():
                records = await self.consumer.getmany(
                    timeout_ms=self.settings.poll_timeout_ms,
                    max_records=self.settings.batch_size,
                )
                if records:
                    await self._process(records)
                    self._update_lag(records)
                await self._drain()
        finally:
            self.running = False
            await self.consumer.stop()
            await self.publisher.stop()
            log.info("metrics.consumer_stopped")

    async def _process(self, records: list[ConsumedRecord]) -> None:
        attempt = 0
        # Nothing was committed for these records until process() returns: retrying the same
        # batch is safe, and while it fails the partitions do not move on.
        while not self._stopping.is_set():
            try:
                await self.processor.process(records)
                return
            except Exception as exc:
                self.instruments.batch_failures.inc()
                log.error(
                    "metrics.batch_failed",
                    error=type(exc).__name__,
                    detail=str(exc)[:500],
                    records=len(records),
                    attempt=attempt,
                )
                attempt += 1
                await self._backoff(attempt)

    async def _drain(self) -> None:
        try:
            await self.processor.drain_outbox()
        except Exception as exc:  # retried after the next poll; the outbox keeps them
            log.warning("metrics.outbox_drain_failed", error=type(exc).__name__)

    def _update_lag(self, records: list[ConsumedRecord]) -> None:
        raw = getattr(self.consumer, "raw", None)
        if raw is None:
            return
        from aiokafka import TopicPartition

        last: dict[tuple[str, int], int] = {}
        for r in records:
            last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
        for (topic, partition), offset in last.items():
            high = raw.highwater(TopicPartition(topic, partition))
            if high is not None:
                self.instruments.lag.labels(topic, str(partition)).set(max(0, high - offset - 1))
