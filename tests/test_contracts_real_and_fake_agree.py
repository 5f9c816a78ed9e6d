"""One contract per inter-service answer (``ioc_common.contracts``): the real metrics and alerts
services and the gateway's stand-in for them (``ioc_gateway.testing.FakeServices``) answer every
call the gateway makes with bodies that validate into the same models — read through the
gateway's own typed clients — and with the same fields."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from ioc_alerts.testing import alerts_harness, district_target, dossiers
from ioc_common.catalogue import load_catalogue
from ioc_common.contracts.metrics import FreshnessPage, SeriesOut
from ioc_common.db import create_engine
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.observability import new_registry
from ioc_common.reference.units import unit_tree
from ioc_common.timeutil import Granularity
from ioc_gateway.auth import Operator, Role
from ioc_gateway.observability import GatewayMetrics
from ioc_gateway.testing import FakeServices, target
from ioc_gateway.upstream import AlertsApi, MetricsApi
from ioc_metrics.app import create_app as metrics_app
from ioc_metrics.config import MetricsSettings
from ioc_metrics.instruments import Instruments
from ioc_metrics.processor import BatchProcessor

pytestmark = pytest.mark.connected

IND = "households_fixed_broadband"
PERIOD = "2024-03"
OPERATOR = Operator(username="operator@test", role=Role.OPERATOR, scope="08")

Clients = tuple[MetricsApi, AlertsApi]
#: What each call answered, as JSON: (endpoint, body).
Bodies = list[tuple[str, Any]]


async def calls(metrics: MetricsApi, alerts: AlertsApi) -> dict[str, BaseModel]:
    """Every call the gateway makes, each answer validated by the typed client."""
    got: dict[str, BaseModel] = {
        "scorecard": await metrics.scorecard("071", Granularity.MONTH),
        "rankings": await metrics.rankings(IND, "08", Granularity.MONTH, PERIOD),
        "values": await metrics.values(IND, "071", Granularity.MONTH, PERIOD, PERIOD),
        "freshness": await metrics.freshness("08", IND),
        "targets": await alerts.targets(),
        "alerts": (listed := await alerts.alerts()),
    }
    alert_id = next(a.id for a in listed.items if a.unit_code == "071")
    got["alert"] = await alerts.alert(alert_id)
    got["acknowledge"] = await alerts.acknowledge(alert_id, "đang xử lý", actor=OPERATOR)
    got["resolve"] = await alerts.resolve(alert_id, "xong", actor=OPERATOR)
    ends = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    silence = {"unit_code": "071", "indicator": IND, "ends_at": ends, "reason": "bảo trì"}
    created = await alerts.create_silence(silence, actor=OPERATOR)
    got["create_silence"] = created
    got["silence"] = await alerts.silence(created.id)
    got["silences"] = await alerts.silences()
    got["expire_silence"] = await alerts.expire_silence(created.id, actor=OPERATOR)
    return got


def recorded(bodies: Bodies) -> Callable[[httpx.Response], Any]:
    async def hook(response: httpx.Response) -> None:
        await response.aread()
        path = re.sub(r"[0-9a-f-]{36}", "{id}", response.request.url.path)
        bodies.append((f"{response.request.method} {path}", response.json()))

    return hook


def clients(
    metrics: httpx.AsyncBaseTransport, alerts: httpx.AsyncBaseTransport, bodies: Bodies
) -> tuple[httpx.AsyncClient, httpx.AsyncClient, Clients]:
    hooks = {"response": [recorded(bodies)]}
    m = httpx.AsyncClient(transport=metrics, base_url="http://metrics", event_hooks=hooks)
    a = httpx.AsyncClient(transport=alerts, base_url="http://alerts", event_hooks=hooks)
    instruments = GatewayMetrics(new_registry())
    return m, a, (MetricsApi(m, instruments), AlertsApi(a, instruments, None))


def observation(unit: str, numerator: int, denominator: int, offset: int) -> ConsumedRecord:
    raw = json.dumps({
        "event_id": str(uuid.uuid4()), "family": "observation", "indicator": IND,
        "unit_code": unit, "observed_at": PERIOD,
        "received_at": datetime.now(UTC).isoformat(), "source": "contract-test",
        "payload": {"numerator": numerator, "denominator": denominator},
    }).encode()  # fmt: skip
    return ConsumedRecord("ioc.telemetry.observation.v1", 0, offset, unit[:3], raw, 0)


@asynccontextmanager
async def real_services(database_url: str) -> AsyncIterator[tuple[httpx.ASGITransport, ...]]:
    """The metrics service (its consumer off) over aggregates the batch processor wrote, and
    the alerts service (no workers) with one target and one firing alert in district 071."""
    engine = create_engine(database_url)
    processor = BatchProcessor(
        engine, InMemoryPublisher(InMemoryBroker()), group_id="contract-test",
        catalogue=load_catalogue(), tree=unit_tree(), instruments=Instruments(new_registry()),
    )  # fmt: skip
    await processor.process([observation("02233", 30, 40, 0), observation("02242", 10, 60, 1)])
    await engine.dispose()
    metrics = metrics_app(MetricsSettings(database_url=database_url, consumer_enabled=False))
    async with (
        metrics.router.lifespan_context(metrics),
        alerts_harness(database_url, seed_targets=False) as h,
    ):
        created = await h.client.post("/v1/targets", json=district_target(h.clock().date()))
        assert created.status_code == 201, created.text
        await h.feed(dossiers(h, "071", 62.0))  # 18 points behind: critical
        yield httpx.ASGITransport(app=metrics), httpx.ASGITransport(app=h.app)


def fake_services() -> FakeServices:
    fakes = FakeServices()
    fakes.period = PERIOD
    for unit, value in (("071", 40.0), ("08", 40.0)):
        fakes.values[(IND, unit)] = value
    fakes.targets = [target("districts", IND, {"level": "district", "within": ["08"]})]
    fakes.add_alert("071")
    return fakes


def fields(body: Any) -> Any:
    """A body's shape: its keys, and those of its first listed item."""
    if not isinstance(body, dict):
        return type(body).__name__
    shape: dict[str, Any] = {"keys": sorted(body)}
    if body.get("items"):
        shape["item"] = fields(next((i for i in body["items"] if i is not None), None))
    return shape


async def test_the_stand_in_and_the_real_services_answer_in_the_same_contract(
    fresh_database_url: str,
) -> None:
    real_bodies: Bodies = []
    async with real_services(fresh_database_url) as (metrics, alerts):
        m, a, (metrics_api, alerts_api) = clients(metrics, alerts, real_bodies)
        async with m, a:
            real = await calls(metrics_api, alerts_api)
    fake_bodies: Bodies = []
    fakes = fake_services()
    m, a, (metrics_api, alerts_api) = clients(fakes.transport(), fakes.transport(), fake_bodies)
    async with m, a:
        fake = await calls(metrics_api, alerts_api)

    assert {k: type(v) for k, v in fake.items()} == {k: type(v) for k, v in real.items()}
    # Not just valid: the same fields, the optional ones included.
    assert [(p, fields(b)) for p, b in fake_bodies] == [(p, fields(b)) for p, b in real_bodies]
    # And the real answers carry data, so the item models were exercised too.
    assert isinstance(series := real["values"], SeriesOut)
    assert [p.value if p else None for p in series.items] == [40.0]
    assert isinstance(freshness := real["freshness"], FreshnessPage)
    assert freshness.items
