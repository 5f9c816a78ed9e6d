"""The consumer loop on the in-memory broker (the same protocols as Kafka's): valid updates
are evaluated and their offsets committed after the database commit; an unreadable record
goes to ``ioc.dlq.v1`` with the reason and never stalls the partition; every update of a
``MetricUpdates`` record is recorded; alert events leave through the event outbox onto
``ioc.alerts.v1``."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from ioc_alerts import tables as t
from ioc_alerts.testing import INDICATOR, Harness, metric_update, update_records
from ioc_common.events import AlertChanged, DeadLetter, MetricUpdated
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.topics import ALERTS, DLQ, METRICS_UPDATED

pytestmark = pytest.mark.connected  # the database is real; the broker is the in-memory fake


async def counters(h: Harness) -> dict[str, float]:
    """``ioc_alerts_metric_updates_total`` by result."""
    text = (await h.client.get("/metrics")).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("ioc_alerts_metric_updates_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            found[result] = float(line.rsplit(" ", 1)[1])
    return found


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
            *update_records([good]),
        ]
    )
    assert await workers.consume_once() == 2
    assert await workers.consume_once() == 0  # offsets committed: nothing is read twice
    assert sum(broker.group_offsets["ioc-alerts"].values()) == 2

    (dead,) = [DeadLetter.model_validate_json(r.value) for r in broker.records(DLQ)]
    assert (dead.reason, dead.consumer, dead.key) == ("invalid_metric_update", "ioc-alerts", "071")
    assert dead.detail.startswith("2 validation errors for MetricUpdates\nupdates\n")

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


async def test_every_update_of_a_record_of_several_is_recorded(harness: Harness) -> None:
    """Two units' worth in two records, several updates each (three months of the watched
    indicator and one of an indicator no target uses): each watched update is recorded, in
    the records' order; a record with one bad update is dead-lettered whole."""
    h = harness
    broker = InMemoryBroker()
    workers = await h.workers_on(broker)
    this_month = h.clock().date().replace(day=1)
    months = [this_month]
    for _ in range(2):
        months.append((months[-1] - timedelta(days=1)).replace(day=1))

    def update(unit: str, month: date, pct: float, version: int = 1) -> MetricUpdated:
        return metric_update(
            INDICATOR,
            unit,
            numerator=pct * 10,
            denominator=1000,
            period_start=month,
            version=version,
            updated_at=h.clock(),
        )

    unwatched = metric_update(
        "villages_mobile_coverage", "072", numerator=4, denominator=10, period_start=this_month
    )
    batch = [
        update("071", months[2], 40.0),
        update("072", months[2], 41.0),
        update("071", months[1], 50.0),
        unwatched,
        update("072", months[1], 51.0),
        update("071", months[0], 73.0),
        update("072", months[0], 95.0),  # on track
        update("071", months[0], 58.0, version=2),  # newer: 22 points behind, critical
    ]
    records = update_records(batch)
    assert [(r.key, r.value.count(b'"indicator"')) for r in records] == [("071", 4), ("072", 4)]
    # A third unit's record whose second update is bad: dead-lettered whole.
    (bad,) = update_records(
        [
            update("073", months[0], 10.0),
            update("073", months[1], 20.0).model_copy(update={"version": 0}),
        ]
    )
    before = await counters(h)
    await InMemoryPublisher(broker).publish_many([*records, bad])
    assert await workers.consume_once() == 3

    rows = await h.rows(
        sa.select(
            t.period_values.c.unit_code,
            t.period_values.c.period_start,
            t.period_values.c.value,
            t.period_values.c.version,
        ).order_by(t.period_values.c.unit_code, t.period_values.c.period_start)
    )
    assert [(r["unit_code"], r["period_start"], r["version"]) for r in rows] == [
        ("071", months[2], 1),
        ("071", months[1], 1),
        ("071", months[0], 2),
        ("072", months[2], 1),
        ("072", months[1], 1),
        ("072", months[0], 1),
    ]
    assert [r["value"] for r in rows] == pytest.approx([40.0, 50.0, 58.0, 41.0, 51.0, 95.0])
    (dead,) = [DeadLetter.model_validate_json(r.value) for r in broker.records(DLQ)]
    assert (dead.key, dead.reason) == ("073", "invalid_metric_update")
    assert dead.detail.startswith("1 validation error for MetricUpdates\nupdates.1.version\n")
    after = await counters(h)
    assert after["ok"] - before["ok"] == 7  # updates, not records
    assert after["skipped"] - before["skipped"] == 1
    assert after["invalid"] - before["invalid"] == 1  # records

    alerts = await h.rows(sa.select(t.alerts.c.unit_code, t.alerts.c.severity))
    assert [(a["unit_code"], a["severity"]) for a in alerts] == [("071", "critical")]
