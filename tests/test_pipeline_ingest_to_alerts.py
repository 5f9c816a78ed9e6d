"""The whole chain on a real Apache Kafka and PostgreSQL: figures a commune pushes through
ingest are aggregated by metrics; a former district lagging its target raises ONE alert, ONE
Vietnamese email at a real SMTP server and ONE signed webhook; figures that bring it back
send one "resolved" message per channel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ioc_alerts.app import create_app as alerts_app
from ioc_alerts.config import AlertsSettings
from ioc_alerts.testing import (
    MailSink,
    WebhookReceiver,
    district_target,
    email_and_webhook_recipient,
)
from ioc_common.db import create_engine, session_factory
from ioc_common.reference.units import unit_tree
from ioc_common.testing import eventually
from ioc_common.timeutil import vietnam_today
from ioc_ingest.app import create_app as ingest_app
from ioc_ingest.keys import PgKeyStore
from ioc_ingest.testing import running, settings_for_tests
from ioc_metrics.app import create_app as metrics_app
from ioc_metrics.config import MetricsSettings

pytestmark = [pytest.mark.connected, pytest.mark.slow]

DISTRICT = "033"  # Xín Mần (former Hà Giang, in Tuyên Quang 08 since the 2025 reform)


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()


async def new_key(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        _, raw = await PgKeyStore(session_factory(engine)).create(
            provider="ubnd-xin-man", families=["public_service"], units=[DISTRICT], actor="test"
        )
    finally:
        await engine.dispose()
    return raw


def dossiers(commune: str, period: str, total: int, processed: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "family": "public_service",
        "unit_code": commune,
        "observed_at": period,
        "payload": {
            "service_level": "full_online",
            "dossiers_total": total,
            "dossiers_online": processed,
            "dossiers_processed_online": processed,
            "paid_online": 0,
        },
    }


@pytest.fixture
async def pipeline(
    private_kafka_bootstrap: str, fresh_database_url: str, mail_sink: MailSink
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    common: dict[str, Any] = {
        # Metrics reads the telemetry topics from the start: only this test's events are there.
        "kafka_bootstrap_servers": private_kafka_bootstrap,
        "database_url": fresh_database_url,
        "log_level": "WARNING",
    }
    alerts_settings = AlertsSettings(
        **common,
        group_id=f"alerts-{uuid.uuid4().hex[:8]}",
        smtp_port=mail_sink.port,
        webhook_allow_networks=["127.0.0.0/8"],
        seed_targets=False,
        group_wait_s=1.0,
        dispatch_interval_s=0.2,
        backoff_base_s=0.2,
        backoff_cap_s=1.0,
    )
    metrics_settings = MetricsSettings(**common, group_id=f"metrics-{uuid.uuid4().hex[:8]}")
    async with AsyncExitStack() as stack:
        ingest = await stack.enter_async_context(running(ingest_app(settings_for_tests(**common))))
        await stack.enter_async_context(running(metrics_app(metrics_settings)))
        alerts = await stack.enter_async_context(running(alerts_app(alerts_settings)))
        alerts.headers["X-IOC-Actor"] = "admin@test"
        yield ingest, alerts


async def test_a_lagging_district_pushed_through_ingest_notifies_once_then_resolves(
    pipeline: tuple[httpx.AsyncClient, httpx.AsyncClient],
    fresh_database_url: str,
    mail_sink: MailSink,
) -> None:
    ingest, alerts = pipeline
    receiver = WebhookReceiver("whsec_" + "UElQRUxJTkVURVNUU0VDUkVUMTIzNDU2")
    await receiver.server.start()
    try:
        today = vietnam_today()
        target = district_target(today, id="xin-man-dossiers", scope={"units": [DISTRICT]})
        assert (await alerts.post("/v1/targets", json=target)).status_code == 201
        chair = await alerts.post(
            "/v1/recipients",
            json=email_and_webhook_recipient(
                "Chủ tịch xã / Xín Mần", DISTRICT, "chutich@xinman.gov.vn", receiver
            ),
        )
        assert chair.status_code == 201, chair.text

        key = {"Authorization": f"Bearer {await new_key(fresh_database_url)}"}
        communes = [
            u.code for u in unit_tree().children("08", today) if u.former_district_code == DISTRICT
        ]
        period = f"{today.year:04d}-{today.month:02d}"
        # 55 % processed online against a target of 80 %: critical (10 points behind).
        lagging = [dossiers(c, period, 200, 110) for c in communes]
        sent = await ingest.post("/v1/events:batch", json={"events": lagging}, headers=key)
        assert sent.status_code == 202, sent.text
        assert sent.json()["accepted"] == len(communes)

        await eventually(lambda: mail_sink.received() and receiver.hooks, timeout_s=90)
        await asyncio.sleep(2)  # anything extra would arrive within a dispatch cycle or two
        (mail,) = mail_sink.received()
        assert mail["To"] == "chutich@xinman.gov.vn"
        assert mail["Subject"].startswith("[IOC] Cảnh báo mới")
        assert "Xín Mần" in mail["Subject"]
        (hook,) = receiver.valid_hooks()
        assert len(receiver.hooks) == 1
        (item,) = hook.body["data"]["alerts"]
        assert (item["unit_code"], item["change"], item["severity"]) == (
            DISTRICT,
            "firing",
            "critical",
        )
        listed = (await alerts.get("/v1/alerts", params={"unit": DISTRICT})).json()
        assert listed["total"] == 1

        # More dossiers, all processed online: (110 + 800) / (200 + 800) = 91 % per commune.
        catching_up = [dossiers(c, period, 800, 800) for c in communes]
        sent = await ingest.post("/v1/events:batch", json={"events": catching_up}, headers=key)
        assert sent.status_code == 202, sent.text
        await eventually(
            lambda: len(mail_sink.received()) >= 2 and len(receiver.hooks) >= 2, timeout_s=90
        )
        await asyncio.sleep(2)
        assert len(mail_sink.received()) == 2
        assert mail_sink.received()[1]["Subject"].startswith("[IOC] Đã khắc phục")
        assert len(receiver.valid_hooks()) == 2
        resolved = receiver.valid_hooks()[1].body["data"]["alerts"]
        assert [a["change"] for a in resolved] == ["resolved"]
        state = (await alerts.get(f"/v1/alerts/{item['alert_id']}")).json()["state"]
        assert state == "resolved"
        assert datetime.now(UTC) > datetime.fromisoformat(hook.body["timestamp"])
    finally:
        await receiver.server.stop()
