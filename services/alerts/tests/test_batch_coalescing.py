"""The consumer judges a batch once: updates of one key are coalesced to the newest version
before anything is written, so a thousand updates of one key cost the statements one does and
the alert follows the newest figure only (no flapping through the ones in between); updates of
indicators no target uses are skipped; targets are cached yet a new one applies from the next
batch; a batch whose transaction failed is tried again, not lost, and an update the tables
cannot hold is dead-lettered (its record, saying so) rather than failing its batch forever.
Updates travel as the metrics service publishes them: a ``MetricUpdates`` record per unit. The
database is real; the broker is the in-memory fake (the real one is exercised end to end
elsewhere)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from ioc_alerts import tables as t
from ioc_alerts.testing import (
    INDICATOR,
    Harness,
    district_target,
    dossiers,
    metric_update,
    publish_updates,
)
from ioc_alerts.workers import Workers
from ioc_common.events import DeadLetter, MetricUpdated
from ioc_common.kafka.memory import InMemoryBroker
from ioc_common.topics import DLQ

pytestmark = pytest.mark.connected


async def publish(broker: InMemoryBroker, updates: list[MetricUpdated], per_record: int) -> None:
    """``updates`` in records of ``per_record`` (one unit's each)."""
    assert await publish_updates(broker, updates, per_record) == -(-len(updates) // per_record)


@contextmanager
def statements(h: Harness) -> Iterator[list[str]]:
    """The SQL statements the service sends while the block runs (an executemany is one)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = h.state.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


async def counter(h: Harness, name: str, label: str) -> float:
    text = (await h.client.get("/metrics")).text
    match = re.search(rf'^{name}_total{{[^}}]*="{label}"}} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker()


@pytest.fixture
async def workers(harness: Harness, broker: InMemoryBroker) -> Workers:
    """The service's consumer on the in-memory ``broker``, a batch taking all there is."""
    return await harness.workers_on(broker, batch_size=5000)


async def test_a_thousand_updates_of_one_key_are_judged_once_on_the_newest(
    harness: Harness, broker: InMemoryBroker, workers: Workers
) -> None:
    h = harness
    # Warm up (targets loaded and cached) on a district of its own.
    await publish(broker, [dossiers(h, "075", 90.0, 1)], 1)
    assert await workers.consume_once() == 1

    # One update of 076: 58% is 22 points behind the 80% target, a critical alert.
    await publish(broker, [dossiers(h, "076", 58.0, 1)], 1)
    with statements(h) as one:
        assert await workers.consume_once() == 1

    # A thousand updates of 071, shuffled: on track, warning and critical in between; the
    # newest version (1,000) is 58% again. Judged one by one they would open, escalate and
    # resolve alerts; coalesced, only the newest counts. Ten records of a hundred each.
    rng = random.Random(5)
    updates = [dossiers(h, "071", rng.choice([62.0, 73.0, 95.0]), v) for v in range(1, 1000)]
    updates.append(dossiers(h, "071", 58.0, 1000))
    rng.shuffle(updates)
    await publish(broker, updates, 100)
    evaluations = await counter(h, "ioc_alerts_evaluations", "event")
    ok = await counter(h, "ioc_alerts_metric_updates", "ok")
    with statements(h) as thousand:
        assert await workers.consume_once() == 10
    assert await counter(h, "ioc_alerts_metric_updates", "ok") == ok + 1000  # updates
    assert await counter(h, "ioc_alerts_evaluations", "event") == evaluations + 1
    assert len(thousand) == len(one), "per-update statements crept back in"

    (obs,) = await h.rows(sa.select(t.observations).where(t.observations.c.unit_code == "071"))
    assert (obs["version"], obs["value"]) == (1000, pytest.approx(58.0))
    (alert,) = await h.rows(sa.select(t.alerts).where(t.alerts.c.unit_code == "071"))
    assert (alert["rule"], alert["state"], alert["severity"], alert["version"]) == (
        "lagging",
        "firing",
        "critical",
        1,
    )
    assert alert["detail"]["actual"] == pytest.approx(58.0)
    history = await h.rows(sa.select(t.history).where(t.history.c.alert_id == alert["id"]))
    assert [r["change"] for r in history] == ["opened"]
    assert sum(broker.group_offsets["ioc-alerts"].values()) == 12


async def test_updates_of_indicators_without_a_target_are_skipped_until_one_exists(
    harness: Harness, broker: InMemoryBroker, workers: Workers
) -> None:
    h = harness
    coverage = "villages_mobile_coverage"
    month: date = h.clock().date().replace(day=1)

    def villages(version: int) -> MetricUpdated:
        return metric_update(
            coverage,
            "072",
            numerator=40,
            denominator=100,
            period_start=month,
            version=version,
            updated_at=h.clock(),
        )

    await publish(broker, [villages(1), dossiers(h, "072", 90.0, 1)], 2)  # one record
    skipped = await counter(h, "ioc_alerts_metric_updates", "skipped")
    assert await workers.consume_once() == 1
    assert await counter(h, "ioc_alerts_metric_updates", "skipped") == skipped + 1
    recorded = await h.rows(sa.select(t.observations.c.indicator))
    assert {r["indicator"] for r in recorded} == {INDICATOR}

    # A target for the indicator: the cached targets are refreshed at the next batch.
    body = district_target(h.clock().date(), id="tq-villages-coverage", indicator=coverage)
    assert (await h.client.post("/v1/targets", json=body)).status_code == 201
    await publish(broker, [villages(2)], 1)
    assert await workers.consume_once() == 1
    (alert,) = await h.rows(sa.select(t.alerts).where(t.alerts.c.indicator == coverage))
    assert (alert["unit_code"], alert["severity"]) == ("072", "critical")


async def test_a_batch_whose_transaction_failed_is_tried_again_not_lost(
    harness: Harness, broker: InMemoryBroker, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    await publish(broker, [dossiers(h, "073", 58.0, 1)], 1)
    evaluate = h.state.evaluator.evaluate
    calls = 0

    async def failing_once(*args: Any) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return await evaluate(*args)

    monkeypatch.setattr(h.state.evaluator, "evaluate", failing_once)
    with pytest.raises(ConnectionError):
        await workers.consume_once()
    assert sum(broker.group_offsets["ioc-alerts"].values()) == 0
    assert await h.rows(sa.select(t.observations)) == []  # rolled back with the failure

    assert await workers.consume_once() == 1  # the same record, not the next ones
    assert sum(broker.group_offsets["ioc-alerts"].values()) == 1
    (alert,) = await h.rows(sa.select(t.alerts).where(t.alerts.c.unit_code == "073"))
    assert alert["severity"] == "critical"


async def test_an_update_the_tables_cannot_hold_is_dead_lettered_not_retried_forever(
    harness: Harness, broker: InMemoryBroker, workers: Workers
) -> None:
    h = harness
    too_long = dossiers(h, "074", 58.0, 1).model_copy(update={"period": "2026-11" * 3})
    await publish(broker, [too_long, dossiers(h, "074", 58.0, 2)], 2)  # one record
    assert await workers.consume_once() == 1
    assert sum(broker.group_offsets["ioc-alerts"].values()) == 1
    # The record is dead-lettered for the update left out; its other update is recorded.
    (dead,) = [DeadLetter.model_validate_json(r.value) for r in broker.records(DLQ)]
    assert dead.reason == "invalid_metric_update"
    assert dead.detail.startswith("1 of the record's 2 watched updates have a period longer")
    (alert,) = await h.rows(sa.select(t.alerts).where(t.alerts.c.unit_code == "074"))
    assert alert["severity"] == "critical"
