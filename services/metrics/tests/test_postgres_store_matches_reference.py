"""The SQL twin of the engine's store gives the naive reference's aggregates exactly."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine
from ioc_common.events import EventKey, decode_telemetry, event_key
from ioc_common.reference.units import unit_tree
from ioc_metrics.core import apply_events
from ioc_metrics.db import pg_transaction
from ioc_metrics.facts import facts_of
from ioc_metrics.pg import PostgresStore
from services.metrics.tests.checks import diff, expected_values, stored_values
from services.metrics.tests.streams import PROVINCE, YEAR, make_stream

pytestmark = pytest.mark.connected


async def test_batches_through_postgres_equal_the_reference(fresh_database_url: str) -> None:
    stream = make_stream(3000, seed=7)
    engine = create_engine(fresh_database_url)
    catalogue, tree = load_catalogue(), unit_tree()
    try:
        for i in range(0, len(stream), 400):
            batch: list[tuple[EventKey, list]] = []  # type: ignore[type-arg]
            for raw in stream[i : i + 400]:
                event = decode_telemetry(json.dumps(raw))
                batch.append((event_key(event), facts_of(event, catalogue, tree)))
            async with pg_transaction(engine) as conn:
                await apply_events(PostgresStore(conn), batch)
        first, last = date(YEAR, 1, 1), date(YEAR, 12, 31)
        actual = await stored_values(engine, PROVINCE, first, last)
    finally:
        await engine.dispose()
    expected = expected_values(stream, first, last)
    assert len(expected) > 1000
    assert diff(expected, actual) == []
