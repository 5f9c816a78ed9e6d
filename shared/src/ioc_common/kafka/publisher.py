"""Publishing with acks=all; a call returns only after the broker acknowledged every record.

``Publisher`` is the boundary services depend on; ``KafkaPublisher`` is the real one and
``ioc_common.kafka.memory.InMemoryPublisher`` the fake.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber

from ioc_common.errors import BrokerUnavailable
from ioc_common.kafka.records import OutgoingRecord, RecordMeta
from ioc_common.logs import get_logger

log = get_logger("ioc.kafka.publisher")


class Publisher(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[RecordMeta]:
        """Hand every record over; raise ``BrokerUnavailable`` unless all were acknowledged."""
        ...

    async def is_ready(self) -> bool: ...


def _unavailable(exc: BaseException) -> BrokerUnavailable:
    return BrokerUnavailable(
        "Hệ thống nhận dữ liệu tạm thời không chuyển được tới Kafka; vui lòng gửi lại sau",
        f"The broker did not acknowledge the write ({type(exc).__name__}); retry later",
    )


class KafkaPublisher:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        idempotence: str = "auto",
        client_id: str = "ioc",
        request_timeout_ms: int = 10_000,
        delivery_timeout_s: float = 15.0,
        linger_ms: int = 2,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        """``security``: ``ioc_common.kafka.client_security(settings)``; None is PLAINTEXT."""
        self._bootstrap = bootstrap_servers
        self._security = dict(security or {})
        self._idempotence = idempotence
        self._client_id = client_id
        self._request_timeout_ms = request_timeout_ms
        self._delivery_timeout_s = delivery_timeout_s
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self.idempotent = False

    def _new_producer(self, idempotent: bool) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=idempotent,
            linger_ms=self._linger_ms,
            request_timeout_ms=self._request_timeout_ms,
            max_batch_size=1_048_576,
            **self._security,
        )

    async def start(self) -> None:
        """Connect; with ``auto`` idempotence fall back when the broker refuses InitProducerId."""
        if self._idempotence != "off":
            producer = self._new_producer(True)
            try:
                await asyncio.wait_for(producer.start(), timeout=self._delivery_timeout_s)
                self._producer, self.idempotent = producer, True
                log.info("kafka.publisher.started", idempotent=True, bootstrap=self._bootstrap)
                return
            except (KafkaError, TimeoutError) as exc:
                await producer.stop()
                if self._idempotence == "on":
                    raise _unavailable(exc) from exc
                log.warning(
                    "kafka.publisher.idempotence_unsupported",
                    error=type(exc).__name__,
                    hint="the broker refused InitProducerId; publishing with acks=all only",
                )
        producer = self._new_producer(False)
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise _unavailable(exc) from exc
        self._producer, self.idempotent = producer, False
        log.info("kafka.publisher.started", idempotent=False, bootstrap=self._bootstrap)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[RecordMeta]:
        if self._producer is None:
            raise _unavailable(RuntimeError("publisher not started"))
        producer = self._producer

        async def send_all() -> list[RecordMeta]:
            futures = [
                await producer.send(
                    r.topic,
                    r.value,
                    key=r.key.encode() if r.key is not None else None,
                    headers=list(r.headers) or None,
                )
                for r in records
            ]
            done = await asyncio.gather(*futures)
            return [RecordMeta(m.topic, m.partition, m.offset) for m in done]

        try:
            # A record still in flight after the deadline may land later: the caller answered
            # 503, the sender retries with the same event_id, and consumers drop the duplicate.
            return await asyncio.wait_for(send_all(), timeout=self._delivery_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            log.warning("kafka.publish_failed", error=type(exc).__name__, records=len(records))
            if isinstance(exc, OutOfOrderSequenceNumber):
                await self._renew(producer)
            raise _unavailable(exc) from exc

    async def _renew(self, broken: AIOKafkaProducer) -> None:
        """Replace a producer whose idempotent session the broker no longer accepts (its
        sequence state was lost in a broker restart): every later write would be refused
        too, while a new producer (a new id) is accepted. The refused writes were answered
        503 and their senders re-send them (consumers drop duplicates by event id). When the
        new one cannot start yet, the old one stays and the next refusal tries again."""
        if self._producer is not broken:
            return  # another caller renewed it already
        fresh = self._new_producer(self.idempotent)
        try:
            await asyncio.wait_for(fresh.start(), timeout=self._delivery_timeout_s)
        except (KafkaError, TimeoutError):
            with contextlib.suppress(Exception):
                await fresh.stop()
            return
        if self._producer is not broken:  # renewed by another caller meanwhile
            await fresh.stop()
            return
        self._producer = fresh
        log.warning("kafka.publisher.renewed", reason="OutOfOrderSequenceNumber")
        with contextlib.suppress(Exception):
            await broken.stop()

    async def is_ready(self) -> bool:
        if self._producer is None:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3)
        except (KafkaError, TimeoutError):
            return False
        return True
