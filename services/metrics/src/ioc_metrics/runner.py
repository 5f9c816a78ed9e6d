"""The metrics service's consumer loop: the shared transactional batch worker
(``ioc_common.kafka.batch_worker``) around the service's batch handler (``processor``)."""

from __future__ import annotations

from typing import Any

from ioc_common.collector import LARGE_BATCHES
from ioc_common.kafka.backoff import Backoff
from ioc_common.kafka.batch_worker import BatchWorker
from ioc_common.kafka.consumer import Consumer
from ioc_common.kafka.publisher import Publisher
from ioc_metrics.config import MetricsSettings
from ioc_metrics.instruments import Instruments
from ioc_metrics.processor import CONSUMER, BatchProcessor, _Applied


class ConsumerLoop:
    def __init__(
        self,
        consumer: Consumer,
        publisher: Publisher,
        processor: BatchProcessor,
        settings: MetricsSettings,
        instruments: Instruments,
    ) -> None:
        self.worker: BatchWorker[Any, _Applied] = BatchWorker(
            name=CONSUMER,
            consumer=consumer,
            publisher=publisher,
            offsets=processor.offsets,
            handler=processor,
            batch_size=settings.batch_size,
            poll_timeout_ms=settings.poll_timeout_ms,
            drain=processor.drain_outbox,
            backoff=Backoff(cap_s=settings.retry_backoff_max_s),
            owns_clients=True,
            on_failure=lambda _: instruments.batch_failures.inc(),
            prepare=processor.prepare,
            begin=processor.begin,
            young_threshold=LARGE_BATCHES,  # a batch holds ~100,000 objects: ioc_common.collector
        )

    @property
    def running(self) -> bool:
        return self.worker.running

    def start(self) -> None:
        self.worker.start()

    async def stop(self, timeout_s: float = 10.0) -> None:
        await self.worker.stop(timeout_s)
