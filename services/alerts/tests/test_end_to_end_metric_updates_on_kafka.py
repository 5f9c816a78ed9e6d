"""End to end on the real broker and database, from ``ioc.metrics.updated.v2`` (fed here as
the metrics service publishes it: ``MetricUpdates`` records) to people: a district lagging
produces one alert, one Vietnamese email at a real SMTP server and one signed webhook the
receiver verifies, an ``AlertChanged`` on ``ioc.alerts.v1``; figures back on track produce one
"resolved" message per channel. (The ingest → metrics → alerts chain is exercised in the
cross-service tests.)"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from ioc_alerts import tables as t
from ioc_alerts.app import create_app
from ioc_alerts.config import AlertsSettings
from ioc_alerts.testing import (
    INDICATOR,
    MailSink,
    WebhookReceiver,
    district_target,
    email_and_webhook_recipient,
    metric_update,
    update_records,
)
from ioc_common.events import AlertChanged
from ioc_common.kafka.admin import ensure_topics
from ioc_common.kafka.consumer import KafkaConsumer
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.testing import eventually
from ioc_common.topics import ALERTS

pytestmark = [pytest.mark.connected, pytest.mark.slow]

UNIT = "076"  # Sơn Dương, Tuyên Quang


async def test_a_lagging_district_notifies_by_email_and_webhook_then_resolves(
    kafka_bootstrap: str, fresh_database_url: str, mail_sink: MailSink
) -> None:
    receiver = WebhookReceiver("whsec_" + "UkVDRUlWRVJTRUNSRVRLRVkxMjM0NTY3")
    await receiver.server.start()
    # A topic of its own: the session's ioc.metrics.updated.v2 carries other tests' updates.
    updates_topic = f"test.metrics.updated.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [updates_topic], partitions=3)
    settings = AlertsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        metrics_topic=updates_topic,
        database_url=fresh_database_url,
        group_id=f"ioc-alerts-test-{uuid.uuid4().hex[:8]}",
        smtp_port=mail_sink.port,
        webhook_allow_networks=["127.0.0.0/8"],
        group_wait_s=1.0,
        dispatch_interval_s=0.2,
        backoff_base_s=0.2,
        backoff_cap_s=1.0,
        log_level="WARNING",
    )
    app = create_app(settings)
    publisher = KafkaPublisher(kafka_bootstrap)
    events = KafkaConsumer(kafka_bootstrap, [ALERTS], group_id=f"t-{uuid.uuid4().hex}")
    await publisher.start()
    await events.start()
    try:
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://alerts",
                headers={"X-IOC-Actor": "admin@test"},
            )
            today = datetime.now(UTC).date()
            target = district_target(today, id="e2e-son-duong", scope={"units": [UNIT]})
            assert (await client.post("/v1/targets", json=target)).status_code == 201
            seeded = (await client.get("/v1/targets", params={"limit": 500})).json()["items"]
            assert {"ha-giang-villages-mobile-coverage", "e2e-son-duong"} <= {
                s["id"] for s in seeded
            }
            chair = await client.post(
                "/v1/recipients",
                json=email_and_webhook_recipient(
                    "Chủ tịch UBND huyện Sơn Dương", UNIT, "chutich@sonduong.gov.vn", receiver
                ),
            )
            assert chair.status_code == 201, chair.text

            def update(pct: float, version: int) -> OutgoingRecord:
                message = metric_update(
                    INDICATOR,
                    UNIT,
                    numerator=pct * 10,
                    denominator=1000,
                    period_start=today.replace(day=1),
                    version=version,
                )
                (record,) = update_records([message], updates_topic)
                return record

            await publisher.publish_many([update(58.0, 1)])
            await eventually(lambda: mail_sink.received() and receiver.hooks, timeout_s=60)
            (mail,) = mail_sink.received()
            assert mail["To"] == "chutich@sonduong.gov.vn"
            assert mail["Subject"].startswith("[IOC] Cảnh báo mới – Nghiêm trọng")
            assert "Sơn Dương (076)" in mail["Subject"]
            (hook,) = receiver.valid_hooks()
            (item,) = hook.body["data"]["alerts"]
            assert (item["unit_code"], item["change"], item["severity"]) == (
                UNIT,
                "firing",
                "critical",
            )
            alert_id = item["alert_id"]

            seen: list[AlertChanged] = []

            def alert_events(count: int) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    for record in await events.getmany(timeout_ms=500, max_records=500):
                        event = AlertChanged.model_validate_json(record.value)
                        if str(event.alert_id) == alert_id:
                            assert record.key == UNIT
                            seen.append(event)
                    return len(seen) >= count

                return check

            await eventually(alert_events(1), timeout_s=60)
            assert [(e.state, e.severity) for e in seen] == [("firing", "critical")]

            await publisher.publish_many([update(81.0, 2)])  # back on track
            await eventually(
                lambda: len(mail_sink.received()) == 2 and len(receiver.hooks) == 2,
                timeout_s=60,
            )
            resolved_mail = mail_sink.received()[1]
            assert resolved_mail["Subject"].startswith("[IOC] Đã khắc phục")
            resolved_hook = receiver.valid_hooks()[1]
            assert [a["change"] for a in resolved_hook.body["data"]["alerts"]] == ["resolved"]
            await eventually(alert_events(2), timeout_s=60)
            assert [e.state for e in seen] == ["firing", "resolved"]

            alerts = (await client.get("/v1/alerts", params={"unit": UNIT})).json()
            assert alerts["total"] == 1
            assert alerts["items"][0]["state"] == "resolved"
            state = app.state.alerts

            async def all_sent() -> bool:
                # A row is marked sent just after its message went out: wait for the commit.
                async with state.sessions() as session:
                    rows = (await session.execute(sa.select(t.outbox.c.status))).scalars().all()
                return sorted(rows) == ["sent"] * 4

            await eventually(all_sent, timeout_s=30)
            assert receiver.duplicates == []
            assert len(mail_sink.received()) == 2
            metrics = (await client.get("/metrics")).text
            assert 'ioc_alerts_deliveries_total{channel="email",outcome="sent"} 2.0' in metrics
            assert (await client.get("/readyz")).status_code == 200
            await client.aclose()
    finally:
        await events.stop()
        await publisher.stop()
        await receiver.server.stop()
