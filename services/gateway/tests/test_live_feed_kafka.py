"""The live feed reads the real broker: alert changes, metric updates (each of a
``MetricUpdates`` record) and telemetry published on Kafka reach an SSE client within its
scope, and not a district operator of another district."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from ioc_common.events import Family, PublicServiceEvent, encode_event, encode_metric_updates
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.testing import eventually, serve
from ioc_common.topics import ALERTS, METRICS_UPDATED, telemetry_topic
from ioc_gateway.app import create_app
from ioc_gateway.config import GatewaySettings
from ioc_gateway.testing import PASSWORD, alert_changed, metric_updated

pytestmark = pytest.mark.connected


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in event:
                yield {"id": event.get("id"), "event": event.get("event")} | json.loads(
                    event["data"]
                )
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            event[name] = value


def _telemetry() -> PublicServiceEvent:
    return PublicServiceEvent.model_validate(
        {
            "event_id": uuid.uuid4(),
            "family": "public_service",
            "unit_code": "02266",  # a commune of former Lâm Bình (071)
            "observed_at": "2026-11",
            "received_at": datetime.now(UTC),
            "source": "test",
            "payload": {
                "service_level": "full_online",
                "dossiers_total": 10,
                "dossiers_online": 9,
                "dossiers_processed_online": 8,
                "paid_online": 1,
            },
        }
    )


async def test_kafka_messages_reach_sse_clients_within_their_scope(
    kafka_bootstrap: str, database_url: str
) -> None:
    settings = GatewaySettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=database_url,
        metrics_url="http://127.0.0.1:9",
        alerts_url="http://127.0.0.1:9",
        log_level="WARNING",
    )
    app = create_app(settings)
    prefix = uuid.uuid4().hex[:8]
    got: dict[str, list[dict[str, Any]]] = {"p": [], "d": []}
    alert, marker, telemetry = alert_changed("071"), alert_changed("072"), _telemetry()
    updates = [  # one record of two updates, as the metrics service publishes them
        metric_updated("071", 80.0),
        metric_updated("071", 79.0, period="2026-10", period_start=date(2026, 10, 1)),
    ]
    publisher = KafkaPublisher(kafka_bootstrap)
    await publisher.start()
    async with serve(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as api:

        async def ready() -> bool:
            return (await api.get("/readyz")).status_code == 200

        async def listen(name: str, token: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            async with api.stream("GET", "/v1/live/sse", headers=headers, timeout=None) as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                async for event in _events(r):
                    got[name].append(event)

        state = app.state.gateway
        for name, scope in (("p", "08"), ("d", "072")):
            await state.users.create(
                username=f"{prefix}-{name}",
                role="viewer",
                scope=scope,
                password=PASSWORD,
                actor="test",
            )
        await eventually(ready, timeout_s=60, interval_s=0.2)  # partitions assigned
        listeners = [
            asyncio.create_task(listen(n, state.signer.issue(f"{prefix}-{n}")[0])) for n in "pd"
        ]
        try:
            await eventually(lambda: all(got[n] for n in "pd"))  # hello
            await publisher.publish_many(
                [
                    OutgoingRecord(ALERTS, encode_event(alert), "071"),
                    OutgoingRecord(METRICS_UPDATED, encode_metric_updates(updates), "071"),
                    OutgoingRecord(
                        telemetry_topic(Family.PUBLIC_SERVICE), encode_event(telemetry), "071"
                    ),
                ]
            )

            def mine(name: str) -> list[dict[str, Any]]:
                return [
                    e
                    for e in got[name]
                    if e.get("data", {}).get("alert_id") == str(alert.alert_id)
                    or e.get("data", {}).get("event_id") == str(telemetry.event_id)
                    or (e["event"] == "metric" and e["data"]["unit_code"] == "071")
                ]

            await eventually(lambda: len(mine("p")) == 4, timeout_s=30)
            # Published after the others: once the district client has it, it was offered
            # (and refused) the rest.
            await publisher.publish_many([OutgoingRecord(ALERTS, encode_event(marker), "072")])
            await eventually(
                lambda: any(
                    e.get("data", {}).get("alert_id") == str(marker.alert_id) for e in got["d"]
                ),
                timeout_s=30,
            )
        finally:
            for task in listeners:
                task.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
            await publisher.stop()
    assert sorted(e["event"] for e in mine("p")) == ["alert", "metric", "metric", "telemetry"]
    metrics = [e["data"] for e in mine("p") if e["event"] == "metric"]
    assert [(m["period"], m["value"]) for m in metrics] == [("2026-11", 80.0), ("2026-10", 79.0)]
    assert all(e["id"] == str(e["seq"]) for e in mine("p"))
    assert mine("d") == []
