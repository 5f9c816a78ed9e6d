"""The consumer loop on the in-memory broker (the same protocols as Kafka's): valid updates
are evaluated and their offsets committed after the database commit; an unreadable message
goes to ``ioc.dlq.v1`` with the reason and never stalls the partition; alert events leave
through the event outbox onto ``ioc.alerts.v1``."""

from __future__ import annotations

import pytest

from ioc_alerts.testing import INDICATOR, Harness, metric_update
from ioc_common.events import AlertChanged, DeadLetter, encode_event
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.topics import ALERTS, DLQ, METRICS_UPDATED

pytestmark = pytest.mark.connected  # the database is real; the broker is the in-memory fake


async def test_updates_are_evaluated_bad_ones_dead_lettered_and_events_published(
    harness: Harness,
) -> None:
    h = harness
    broker = InMemoryBroker()
    workers = await h.workers_on(broker)
    good = metric_update(
        INDICATOR,
        "071",
        numerator=600,
        denominator=1000,
        period_start=h.clock().date().replace(day=1),
        updated_at=h.clock(),
    )
    await InMemoryPublisher(broker).publish_many(  # as the metrics service would
        [
            OutgoingRecord(METRICS_UPDATED, b'{"indicator": 1}', "071"),
            OutgoingRecord(METRICS_UPDATED, encode_event(good), "071"),
        ]
    )
    assert await workers.consume_once() == 2
    assert await workers.consume_once() == 0  # offsets committed: nothing is read twice
    assert sum(broker.group_offsets["ioc-alerts"].values()) == 2

    (dead,) = [DeadLetter.model_validate_json(r.value) for r in broker.records(DLQ)]
    assert (dead.reason, dead.consumer, dead.key) == ("invalid_metric_update", "ioc-alerts", "071")

    assert await workers.publish_once() == 1
    assert await workers.publish_once() == 0
    (record,) = broker.records(ALERTS)
    event = AlertChanged.model_validate_json(record.value)
    assert (record.key, event.unit_code, event.state, event.severity) == (
        "071",
        "071",
        "firing",
        "critical",
    )
