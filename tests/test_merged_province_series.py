"""A province formed on 1 July 2025 from several reads as one continuous series: before the
reform the gateway's series for 08 Tuyên Quang is the sum of its predecessors (former 02 Hà
Giang and former 08 Tuyên Quang) — a ratio from their summed numerators and denominators,
never an average of percentages — marked; after it, the province's own figure. Real metrics
service over aggregates on real PostgreSQL; the alerts service stood in by the gateway's fake."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine
from ioc_common.kafka.memory import InMemoryBroker, InMemoryConsumer, InMemoryPublisher
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.observability import new_registry
from ioc_common.reference.units import unit_tree
from ioc_common.testing import serve
from ioc_gateway.app import create_app as gateway_app
from ioc_gateway.config import GatewaySettings
from ioc_gateway.feed import feed_topics
from ioc_gateway.testing import PASSWORD, FakeServices
from ioc_metrics.app import create_app as metrics_app
from ioc_metrics.config import MetricsSettings
from ioc_metrics.instruments import Instruments
from ioc_metrics.processor import BatchProcessor

pytestmark = pytest.mark.connected

IND = "households_fixed_broadband"  # a ratio (percent)


def observation(unit: str, period: str, num: int, den: int, offset: int) -> ConsumedRecord:
    raw = json.dumps({
        "event_id": str(uuid.uuid4()), "family": "observation", "indicator": IND,
        "unit_code": unit, "observed_at": period, "received_at": datetime.now(UTC).isoformat(),
        "source": "so-khcn", "payload": {"numerator": num, "denominator": den},
    }).encode()  # fmt: skip
    return ConsumedRecord("ioc.telemetry.observation.v1", 0, offset, unit[:2], raw, 0)


class Route(httpx.AsyncBaseTransport):
    """metrics → the real app; alerts → the fake."""

    def __init__(self, metrics: httpx.AsyncBaseTransport, alerts: httpx.AsyncBaseTransport):
        self.metrics, self.alerts = metrics, alerts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.metrics if request.url.host == "metrics" else self.alerts
        return await target.handle_async_request(request)


async def test_a_merged_province_reads_as_one_series_across_the_reform(
    fresh_database_url: str,
) -> None:
    engine = create_engine(fresh_database_url)
    processor = BatchProcessor(
        engine, InMemoryPublisher(InMemoryBroker()), group_id="merged-series",
        catalogue=load_catalogue(), tree=unit_tree(), instruments=Instruments(new_registry()),
    )  # fmt: skip
    await processor.process(
        [
            observation("02", "2025-03", 30_000, 60_000, 0),  # Hà Giang: 50 %
            observation("08", "2025-03", 90_000, 100_000, 1),  # former Tuyên Quang: 90 %
            observation("08", "2025-08", 140_000, 170_000, 2),  # the merged province
        ]
    )
    await engine.dispose()

    metrics = metrics_app(MetricsSettings(database_url=fresh_database_url, consumer_enabled=False))
    routes = Route(httpx.ASGITransport(app=metrics), FakeServices().transport())
    settings = GatewaySettings(
        database_url=fresh_database_url,
        metrics_url="http://metrics",
        alerts_url="http://alerts",
        log_level="WARNING",
    )
    consumer = InMemoryConsumer(InMemoryBroker(), feed_topics(True), group_id="merged-series")
    gateway = gateway_app(settings, registry=new_registry(), consumer=consumer, transport=routes)
    async with metrics.router.lifespan_context(metrics), serve(gateway) as address:
        await gateway.state.gateway.users.create(
            username="tq-viewer", role="viewer", scope="08", password=PASSWORD, actor="test"
        )
        async with httpx.AsyncClient(base_url=f"http://{address}") as client:
            login = await client.post(
                "/v1/auth/login", json={"username": "tq-viewer", "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            client.headers["Authorization"] = f"Bearer {login.json()['token']}"
            r = await client.get(
                "/v1/series",
                params={"indicator": IND, "unit": "08", "from": "2025-03", "to": "2025-08"},
            )
    assert r.status_code == 200, r.text
    points = {p["period"]: p for p in r.json()["points"]}

    march = points["2025-03"]
    assert march["value"] == pytest.approx((30_000 + 90_000) / (60_000 + 100_000) * 100)  # 75 %
    assert (march["composed_of"], march["complete"]) == (["02", "08"], True)
    assert "composed_of" not in points["2025-08"]
    assert points["2025-08"]["value"] == pytest.approx(140_000 / 170_000 * 100)
    # A stock ratio carries forward in each predecessor, and the sum says so.
    assert (points["2025-05"]["value"], points["2025-05"]["carried"]) == (75.0, True)
    assert points["2025-05"]["composed_of"] == ["02", "08"]
