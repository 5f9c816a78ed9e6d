"""On the real broker and database: a corrected monthly flow replaces the department's earlier
figure (it is not added to it) in the month, quarter and year of the commune, its district and
the province; a late copy of the earlier revision changes nothing and is counted."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from ioc_common.db import create_engine
from ioc_common.events import Family
from ioc_common.kafka.admin import ensure_topics
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.reference.units import unit_tree
from ioc_common.topics import telemetry_topic
from ioc_metrics.app import create_app
from ioc_metrics.config import MetricsSettings
from ioc_metrics.db import pg_transaction
from services.metrics.tests.running import publish, wait_consumed
from services.metrics.tests.streams import PROVINCE, units

pytestmark = pytest.mark.connected

YEAR = 2036  # a year no other test of this database uses


def cashless(commune: str, revision: int, transactions: int, value_vnd: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),  # a correction is a new event: a new id
        "family": "cashless",
        "unit_code": commune,
        "observed_at": f"{YEAR}-05",  # a monthly total
        "received_at": f"{YEAR}-06-0{revision}T08:00:00+00:00",
        "source": "so-cong-thuong",
        "revision": revision,
        "payload": {"channel": "qr", "transactions": transactions, "value_vnd": value_vnd},
    }


async def test_a_corrected_monthly_total_replaces_the_first_one(
    kafka_bootstrap: str, fresh_database_url: str
) -> None:
    _, communes = units(PROVINCE, YEAR)
    commune = communes[0]
    district = unit_tree().district_of(commune, date(YEAR, 5, 1))
    assert district is not None
    topic = f"test.corrections.{uuid.uuid4().hex[:8]}.{telemetry_topic(Family.CASHLESS)}"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    group = f"metrics-corrections-{uuid.uuid4().hex[:8]}"
    settings = MetricsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=fresh_database_url,
        group_id=group,
        poll_timeout_ms=200,
        topics=(topic,),
    )
    app = create_app(settings)
    engine = create_engine(fresh_database_url)

    async def send(event: dict[str, Any]) -> None:
        # One at a time, each consumed before the next: a correction meets the stored figure.
        record = OutgoingRecord(topic, json.dumps(event).encode(), key=district)
        await wait_consumed(engine, group, await publish(kafka_bootstrap, [record]), 60)

    async def aggregates() -> dict[tuple[str, str, str], Any]:
        async with pg_transaction(engine) as conn:
            rows = await conn.fetch(
                "SELECT indicator, granularity, code, num FROM metrics_aggregates"
                " WHERE indicator LIKE 'cashless_%' AND granularity <> 'day'"
            )
        return {(r["indicator"], r["granularity"], r["code"]): r["num"] for r in rows}

    def expected(transactions: int, value_vnd: int) -> dict[tuple[str, str, str], int]:
        return {
            (indicator, granularity, code): figure
            for indicator, figure in (
                ("cashless_transactions", transactions),
                ("cashless_value_vnd", value_vnd),
            )
            for granularity in ("month", "quarter", "year")
            for code in (commune, district, PROVINCE)
        }

    try:
        async with app.router.lifespan_context(app):
            await send(cashless(commune, 1, 1200, 350_000_000))
            assert await aggregates() == expected(1200, 350_000_000)
            await send(cashless(commune, 2, 1250, 362_000_000))  # the correction
            assert await aggregates() == expected(1250, 362_000_000)  # not 2450
            await send(cashless(commune, 1, 900, 1_000))  # a late copy of revision 1
            assert await aggregates() == expected(1250, 362_000_000)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
                exposition = (await client.get("/metrics")).text
    finally:
        await engine.dispose()
    # Both facts of the late copy (transactions and value) were ignored, and counted.
    assert 'ioc_metrics_superseded_facts_total{kind="flow"} 2.0' in exposition
    assert 'ioc_metrics_superseded_facts_total{kind="stock"} 0.0' in exposition
