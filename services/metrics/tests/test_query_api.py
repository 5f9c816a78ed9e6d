"""The query API over aggregates written by the batch processor (real PostgreSQL; the
processor publishes to the in-memory broker fake)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine
from ioc_common.events import MetricUpdates
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.observability import new_registry
from ioc_common.reference.units import unit_tree
from ioc_common.topics import DLQ, METRICS_UPDATED
from ioc_metrics.app import create_app
from ioc_metrics.config import MetricsSettings
from ioc_metrics.instruments import Instruments
from ioc_metrics.processor import BatchProcessor

pytestmark = pytest.mark.connected

RECENT = datetime.now(UTC) - timedelta(hours=1)
OLD = datetime.now(UTC) - timedelta(days=200)


def obs(unit: str, indicator: str, observed: str, received: datetime, **payload: Any) -> bytes:
    return json.dumps({
        "event_id": str(uuid.uuid4()), "family": "observation", "indicator": indicator,
        "unit_code": unit, "observed_at": observed, "received_at": received.isoformat(),
        "source": "api-test", "payload": payload,
    }).encode()  # fmt: skip


EVENTS = [
    # Stock: two communes of district 071 report in January; only one in March.
    obs("02233", "open_datasets", "2024-01", OLD, value=4),
    obs("02242", "open_datasets", "2024-01", OLD, value=6),
    obs("02233", "open_datasets", "2024-03", RECENT, value=5),
    # District 072 reports its own figure.
    obs("072", "open_datasets", "2024-03", RECENT, value=20),
    # Ratio of stocks: 30/40 and 10/60 → 40/100 = 40%, not the mean of 75% and 16.7%.
    obs("02233", "households_fixed_broadband", "2024-03", RECENT, numerator=30, denominator=40),
    obs("02242", "households_fixed_broadband", "2024-03", RECENT, numerator=10, denominator=60),
    b"not json at all",
]


@pytest.fixture
async def client(fresh_database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    broker = InMemoryBroker()
    engine = create_engine(fresh_database_url)
    processor = BatchProcessor(
        engine, InMemoryPublisher(broker), group_id="api-test", catalogue=load_catalogue(),
        tree=unit_tree(), instruments=Instruments(new_registry()),
    )  # fmt: skip
    records = [
        ConsumedRecord("ioc.telemetry.observation.v1", 0, i, "071", raw, 0)
        for i, raw in enumerate(EVENTS)
    ]
    await processor.process(records)
    await processor.drain_outbox()
    await engine.dispose()
    app = create_app(MetricsSettings(database_url=fresh_database_url, consumer_enabled=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as http:
            yield http, broker


async def test_stock_series_carries_and_marks_carried(client: Any) -> None:
    http, _ = client
    r = await http.get("/v1/values", params={"indicator": "open_datasets", "unit": "071",
                       "granularity": "month", "from": "2024-01", "to": "2024-04"})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["periods"] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    points = [(p["value"], p["carried"]) for p in body["items"]]
    # Feb carries January; March: 02233's new 5 plus 02242's January 6 carried; April carries.
    assert points == [(10, False), (10, True), (11, False), (11, True)]


async def test_ratio_is_the_ratio_of_sums(client: Any) -> None:
    http, _ = client
    r = await http.get("/v1/values", params={"indicator": "households_fixed_broadband",
                       "unit": "08", "granularity": "quarter", "from": "2024-Q1",
                       "to": "2024-Q1"})  # fmt: skip
    point = r.json()["items"][0]
    assert (point["numerator"], point["denominator"], point["value"]) == (40, 100, 40)


async def test_ranking_of_districts_with_the_province_value(client: Any) -> None:
    http, _ = client
    r = await http.get("/v1/rankings", params={"indicator": "open_datasets", "province": "08",
                       "granularity": "month", "period": "2024-03"})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    ranked = [(i["rank"], i["unit_code"], i["value"]) for i in body["items"] if i["rank"]]
    assert ranked == [(1, "072", 20), (2, "071", 11)]
    assert body["province_value"] == 31
    assert len(body["items"]) == 7  # every district of Tuyên Quang, unranked without data


async def test_scorecard_shows_latest_period_and_trend(client: Any) -> None:
    http, _ = client
    r = await http.get("/v1/units/071/scorecard", params={"granularity": "month"})
    assert r.status_code == 200, r.text
    card = {i["indicator"]: i for i in r.json()["items"]}
    assert len(card) == len(load_catalogue().indicators)
    datasets = card["open_datasets"]
    assert (datasets["period"], datasets["value"], datasets["previous_value"]) == (
        "2024-03",
        11,
        10,
    )
    assert (datasets["trend"], datasets["assessment"]) == ("up", "improving")
    assert card["bts_sites"]["trend"] == "unknown"


async def test_freshness_flags_units_silent_longer_than_their_interval(client: Any) -> None:
    http, _ = client
    r = await http.get("/v1/freshness", params={"province": "08", "indicator": "open_datasets"})
    assert r.status_code == 200, r.text
    rows = {i["unit_code"]: i for i in r.json()["items"]}
    assert rows["02242"]["stale"] is True  # last heard 200 days ago; reports every 92
    assert rows["02233"]["stale"] is False
    assert rows["02233"]["last_observed_at"] == "2024-03-01"


async def test_pagination_of_the_catalogue(client: Any) -> None:
    http, _ = client
    r = await http.get("/v1/indicators", params={"limit": 5, "offset": 5})
    body = r.json()
    assert body["total"] == len(load_catalogue().indicators)
    assert [i["code"] for i in body["items"]] == list(load_catalogue().codes[5:10])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"indicator": "nope", "unit": "071", "granularity": "month", "from": "2024-01",
          "to": "2024-02"}, "indicator"),
        ({"indicator": "open_datasets", "unit": "071", "level": "commune",
          "granularity": "month", "from": "2024-01", "to": "2024-02"}, "level"),
        ({"indicator": "open_datasets", "unit": "071", "granularity": "month",
          "from": "2024-13", "to": "2024-02"}, "from"),
        ({"indicator": "open_datasets", "unit": "071", "granularity": "month",
          "from": "2024-05", "to": "2024-02"}, "to"),
        ({"indicator": "open_datasets", "unit": "071", "granularity": "week",
          "from": "2024-01", "to": "2024-02"}, "granularity"),
    ],
)  # fmt: skip
async def test_bad_filters_get_a_422_naming_the_field(
    client: Any, params: dict[str, str], field: str
) -> None:
    http, _ = client
    r = await http.get("/v1/values", params=params)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"]
    assert error["message_en"]
    assert [d["field"] for d in error["details"]] == [field]


async def test_processor_published_updates_and_the_dead_letter(client: Any) -> None:
    _, broker = client
    records = [
        (r.key, MetricUpdates.model_validate_json(r.value)) for r in broker.records(METRICS_UPDATED)
    ]
    updates = [u for _, record in records for u in record.updates]
    assert all(u.unit_code == key for key, record in records for u in record.updates)
    assert len(records) < len(updates)  # a record per unit and batch, not per change
    march = [u for u in updates if (u.unit_code, u.period, u.indicator)
             == ("071", "2024-03", "open_datasets")]  # fmt: skip
    assert [(u.value, u.version) for u in march] == [(11, 1)]
    assert len(broker.records(DLQ)) == 1


async def test_operations_endpoints(client: Any) -> None:
    http, _ = client
    assert (await http.get("/healthz")).status_code == 200
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    metrics = (await http.get("/metrics")).text
    assert "ioc_http_requests" in metrics


VALUES = {"indicator": "open_datasets", "unit": "071"}
RANKING = {"indicator": "open_datasets", "province": "08"}


@pytest.mark.parametrize(
    ("path", "params", "field", "reason"),
    [
        # Found by the trust-boundaries review: 9999-12-31 overflowed (500) and 0001…9999
        # by day was computed (3.6 M periods).
        ("/v1/values", VALUES | {"granularity": "day", "from": "9999-12-31",
                                 "to": "9999-12-31"}, "from", "between 1900 and 2200"),
        ("/v1/values", VALUES | {"granularity": "day", "from": "0001-01-01",
                                 "to": "9999-12-31"}, "from", "between 1900 and 2200"),
        ("/v1/values", VALUES | {"granularity": "year", "from": "2024",
                                 "to": "2201"}, "to", "between 1900 and 2200"),
        ("/v1/values", VALUES | {"granularity": "day", "from": "1900-01-01",
                                 "to": "2200-12-31"}, "to", "at most 5000"),
        ("/v1/values", VALUES | {"granularity": "month", "from": "2024-05",
                                 "to": "2024-02"}, "to", "must not be before from"),
        ("/v1/rankings", RANKING | {"granularity": "year", "period": "9999"}, "period",
         "between 1900 and 2200"),
        ("/v1/rankings", RANKING | {"granularity": "day", "period": "1899-12-31"}, "period",
         "between 1900 and 2200"),
    ],
)  # fmt: skip
async def test_period_ranges_out_of_bounds_get_a_422_naming_the_field(
    client: Any, path: str, params: dict[str, str], field: str, reason: str
) -> None:
    http, _ = client
    r = await http.get(path, params=params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"] != error["message_en"]  # Vietnamese and English
    [detail] = error["details"]
    assert detail["field"] == field
    vi, en = detail["reason"].split(" / ")
    assert vi
    assert reason in en


async def test_a_range_at_the_bounds_is_answered(client: Any) -> None:
    http, _ = client
    r = await http.get(
        "/v1/values",
        params=VALUES | {"granularity": "day", "from": "2010-01-01", "to": "2023-09-09"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 5000
    r = await http.get(
        "/v1/values", params=VALUES | {"granularity": "year", "from": "1900", "to": "2200"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 301
    r = await http.get("/v1/rankings", params=RANKING | {"granularity": "year", "period": "2200"})
    assert r.status_code == 200, r.text
