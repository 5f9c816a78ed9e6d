"""Reads the platform's topics and publishes them to the hub: metric updates, alert changes
and telemetry (for the ticker). Its own consumer group per gateway process, starting from the
latest offsets — the live feed shows what happens from now on; the API gives the history."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
from pydantic import ValidationError

from ioc_common.catalogue import Catalogue
from ioc_common.events import AlertChanged, Family
from ioc_common.kafka.backoff import Backoff
from ioc_common.kafka.consumer import Consumer
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.logs import get_logger
from ioc_common.topics import ALERTS, METRICS_UPDATED, TELEMETRY_TOPICS
from ioc_common.wire import (
    AnyTelemetry,
    MetricUpdate,
    decode_metric_updates,
    decode_wire,
    payload_of,
)
from ioc_gateway.hub import Hub
from ioc_gateway.observability import GatewayMetrics
from ioc_gateway.scope import unit_name

log = get_logger("ioc.gateway.feed")


def feed_topics(telemetry: bool) -> list[str]:
    return [METRICS_UPDATED, ALERTS, *(TELEMETRY_TOPICS if telemetry else ())]


def group_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class FeedPublisher:
    """Turns a Kafka record into hub messages: one per update of a ``MetricUpdates`` record
    (``ioc.metrics.updated.v2``: one unit's changes from one batch, in order), one per alert
    change or telemetry event. Records are decoded fast (``ioc_common.wire``) and a message's
    JSON is built only when a client takes it: thousands of updates a second pass through,
    and most go to no client."""

    def __init__(self, hub: Hub, catalogue: Catalogue, metrics: GatewayMetrics) -> None:
        self.hub = hub
        self.catalogue = catalogue
        self.metrics = metrics
        self._family_pillars: dict[str, frozenset[str]] = {
            f.value: frozenset(i.pillar.value for i in catalogue.derived_from(f))
            for f in Family
            if f is not Family.OBSERVATION
        }
        self._pillars: dict[str | None, frozenset[str]] = {}

    def _pillar(self, indicator: str | None) -> frozenset[str]:
        pillars = self._pillars.get(indicator)
        if pillars is None:
            found = self.catalogue.get(indicator) if indicator else None
            pillars = frozenset({found.pillar.value}) if found else frozenset()
            if len(self._pillars) < 10_000:  # the catalogue's codes, and a few strays
                self._pillars[indicator] = pillars
        return pillars

    def handle(self, record: ConsumedRecord) -> None:
        self.metrics.consumed.labels(record.topic).inc()
        try:
            if record.topic == METRICS_UPDATED:
                for update in decode_metric_updates(record.value):
                    self._metric(update)
            elif record.topic == ALERTS:
                self._alert(AlertChanged.model_validate_json(record.value))
            else:
                self._telemetry(decode_wire(record.value))
        except (ValidationError, ValueError) as exc:
            self.metrics.undecodable.labels(record.topic).inc()
            log.warning(
                "gateway.feed_undecodable",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(exc)[:300],
            )

    def _metric(self, m: MetricUpdate) -> None:
        self.hub.publish(
            "metric",
            lambda: msgspec.to_builtins(m) | {"unit_name": unit_name(m.unit_code)},
            unit_code=m.unit_code,
            pillars=self._pillar(m.indicator),
            dates=(m.period_start,),
            coalesce_key=(m.indicator, m.unit_code, m.level.value, m.granularity.value, m.period),
        )

    def _alert(self, a: AlertChanged) -> None:
        self.hub.publish(
            "alert",
            lambda: a.model_dump(mode="json") | {"unit_name": unit_name(a.unit_code)},
            unit_code=a.unit_code,
            pillars=frozenset({a.pillar}),
            severity=a.severity.value,
            dates=(a.changed_at.date(),),
        )

    def _telemetry(self, event: AnyTelemetry) -> None:
        def data() -> dict[str, Any]:
            return {
                "event_id": str(event.event_id),
                "family": event.family.value,
                "indicator": event.indicator,
                "unit_code": event.unit_code,
                "unit_name": unit_name(event.unit_code),
                "observed_at": event.observed_at.isoformat(),
                "granularity": event.granularity.value,
                "source": event.source,
                "payload": payload_of(event),
            }

        pillars = (
            self._pillar(event.indicator)
            if event.indicator
            else self._family_pillars.get(event.family.value, frozenset())
        )
        self.hub.publish(
            "telemetry",
            data,
            unit_code=event.unit_code,
            pillars=pillars,
            dates=(event.observed_at,),
        )


async def run_feed(
    consumer: Consumer,
    publisher: FeedPublisher,
    *,
    poll_ms: int = 500,
    backoff: Backoff | None = None,
) -> None:
    """The consumer loop: read, publish to the hub, repeat. It never awaits a client."""
    backoff = backoff or Backoff(base_s=0.5, cap_s=10.0)
    while True:
        try:
            records = await consumer.getmany(timeout_ms=poll_ms, max_records=1000)
            backoff.reset()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker is away: keep trying, the dashboard stays up
            log.warning(
                "gateway.feed_poll_failed", error=type(exc).__name__, attempt=backoff.failures
            )
            await backoff.wait()
            continue
        for record in records:
            publisher.handle(record)
        if records:
            await asyncio.sleep(0)  # let the senders run between large batches
