"""A committed batch's ``MetricUpdates`` leave from memory (``ioc_common.kafka.outbox.
publish_written``) by the outbox's one rule — deleted in the transaction that publishes them —
and the table's own drain still takes what is left: rows of an earlier process, of a failed
publish, of a batch another replica's drain took first. Real PostgreSQL; the in-memory broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine, pg_transaction
from ioc_common.errors import BrokerUnavailable
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.kafka.outbox import drain_outbox
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.observability import new_registry
from ioc_common.reference.units import unit_tree
from ioc_common.topics import METRICS_UPDATED
from ioc_metrics.instruments import Instruments
from ioc_metrics.processor import BatchProcessor
from ioc_metrics.updates import OUTBOX

pytestmark = pytest.mark.connected

RECEIVED = datetime.now(UTC) - timedelta(hours=1)
UNITS = ["02233", "02242", "071", "072"]


def batch(offset: int, value: int) -> list[ConsumedRecord]:
    """One event per unit, a stock figure each, received after those of any batch with a lower
    ``offset``: it replaces them (with equal receipt times a random event id decided, and a
    batch could change nothing)."""
    received = RECEIVED + timedelta(seconds=offset)
    records = []
    for i, unit in enumerate(UNITS):
        raw = json.dumps({
            "event_id": str(uuid.uuid4()), "family": "observation", "indicator": "open_datasets",
            "unit_code": unit, "observed_at": "2024-03", "received_at": received.isoformat(),
            "source": "outbox-test", "payload": {"value": value + i},
        }).encode()  # fmt: skip
        records.append(ConsumedRecord("ioc.telemetry.observation.v1", 0, offset + i, unit, raw, 0))
    return records


class Service:
    def __init__(self, database_url: str, broker: InMemoryBroker) -> None:
        self.engine = create_engine(database_url)
        self.processor = BatchProcessor(
            self.engine, InMemoryPublisher(broker), group_id="outbox-test",
            catalogue=load_catalogue(), tree=unit_tree(), instruments=Instruments(new_registry()),
        )  # fmt: skip

    async def table(self) -> list[tuple[str, bytes]]:
        async with pg_transaction(self.engine) as conn:
            rows = await conn.fetch("SELECT key, value FROM metrics_outbox ORDER BY id")
        return [(r["key"], bytes(r["value"])) for r in rows]


@pytest.fixture
async def service(fresh_database_url: str) -> AsyncIterator[tuple[Service, InMemoryBroker]]:
    broker = InMemoryBroker()
    service = Service(fresh_database_url, broker)
    try:
        yield service, broker
    finally:
        await service.engine.dispose()


def per_unit(rows: list[tuple[str, bytes]]) -> dict[str, list[bytes]]:
    """Each unit's records in order: the order a keyed topic keeps (one partition per key)."""
    out: dict[str, list[bytes]] = {}
    for key, value in rows:
        out.setdefault(key, []).append(value)
    return out


def published(broker: InMemoryBroker) -> dict[str, list[bytes]]:
    rows = [(r.key, r.value) for r in broker.records(METRICS_UPDATED)]
    assert all(key is not None for key, _ in rows)
    return per_unit([(str(key), value) for key, value in rows])


async def one_batch_committed(svc: Service) -> list[tuple[str, bytes]]:
    """After the start-up drain (an empty table), one batch committed: its outbox rows."""
    assert await svc.processor.drain_outbox() == 0
    await svc.processor.process(batch(0, 1))
    rows = await svc.table()
    assert rows
    return rows


async def test_a_committed_batch_leaves_once_in_commit_order_and_the_outbox_empties(
    service: tuple[Service, InMemoryBroker],
) -> None:
    svc, broker = service
    assert await svc.processor.drain_outbox() == 0  # start-up: the table drained, empty
    expected = []
    for n in range(3):
        await svc.processor.process(batch(n * 10, 5 * n + 1))
        rows = await svc.table()  # what the batch committed, before it leaves
        assert rows  # a record per unit whose cells changed
        assert await svc.processor.drain_outbox() == len(rows)
        assert await svc.table() == []
        expected += rows
    assert published(broker) == per_unit(expected)


async def test_rows_of_a_failed_publish_leave_before_later_ones(
    service: tuple[Service, InMemoryBroker],
) -> None:
    svc, broker = service
    first = await one_batch_committed(svc)
    broker.available = False
    with pytest.raises(BrokerUnavailable):
        await svc.processor.drain_outbox()
    assert await svc.table() == first  # rolled back: nothing deleted that did not leave
    broker.available = True
    await svc.processor.process(batch(10, 7))
    both = await svc.table()
    assert await svc.processor.drain_outbox() == len(both) > len(first)
    # The failed batch first, then the later one, once each.
    assert published(broker) == per_unit(both)
    assert await svc.table() == []


async def test_a_batch_another_drain_took_first_is_not_published_again(
    service: tuple[Service, InMemoryBroker],
) -> None:
    svc, broker = service
    rows = await one_batch_committed(svc)
    # A replica's drain of the shared table takes the rows this process still holds.
    other = InMemoryPublisher(broker)
    assert await drain_outbox(svc.engine, other, OUTBOX) == len(rows)
    assert await svc.processor.drain_outbox() == 0
    assert published(broker) == per_unit(rows)


async def test_rows_an_earlier_process_left_leave_first(fresh_database_url: str) -> None:
    broker = InMemoryBroker()
    crashed = Service(fresh_database_url, broker)
    restarted = Service(fresh_database_url, broker)
    try:
        await crashed.processor.process(batch(0, 1))  # committed, never published
        left = await crashed.table()
        await restarted.processor.process(batch(10, 7))
        everything = await restarted.table()
        assert everything[: len(left)] == left
        assert await restarted.processor.drain_outbox() == len(everything) > len(left) > 0
        assert published(broker) == per_unit(everything)
        assert await restarted.table() == []
    finally:
        await crashed.engine.dispose()
        await restarted.engine.dispose()
