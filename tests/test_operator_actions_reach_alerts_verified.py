"""The trust chain end to end, every service in production mode with its own secrets: an operator
logs in to the gateway, reads figures (gateway → metrics with the metrics token) and
acknowledges an alert (gateway → alerts with the alerts token and a signed actor assertion).
The alerts service records the operator's own name, address and browser — and a gateway that
signs with the wrong key gets nothing done in anyone's name."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from ioc_alerts import tables as t
from ioc_alerts.testing import Harness, alerts_harness, district_target, dossiers
from ioc_common.audit import audit_log
from ioc_common.kafka.memory import InMemoryBroker, InMemoryConsumer
from ioc_common.observability import new_registry
from ioc_common.secrets import generate_secret
from ioc_common.service_auth import ACTOR_HEADER, ActorClaims, sign_actor
from ioc_common.testing import LocalServer, serve
from ioc_gateway.app import create_app as gateway_app
from ioc_gateway.config import GatewaySettings
from ioc_gateway.feed import feed_topics
from ioc_metrics.app import create_app as metrics_app
from ioc_metrics.config import MetricsSettings

pytestmark = pytest.mark.connected

PASSWORD = "mật-khẩu-thử-nghiệm-đủ-dài"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chromium/156 ioc-test"


@dataclass(frozen=True)
class Keys:
    metrics_token: str
    alerts_token: str
    actor_key: str


@dataclass
class Stack:
    alerts: Harness
    gateway: httpx.AsyncClient
    keys: Keys


@asynccontextmanager
async def gateway(
    database_url: str, metrics_url: str, alerts_url: str, keys: Keys
) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(
        environment="production",
        database_url=database_url,
        metrics_url=metrics_url,
        alerts_url=alerts_url,
        metrics_service_token=SecretStr(keys.metrics_token),
        alerts_service_token=SecretStr(keys.alerts_token),
        actor_key=SecretStr(keys.actor_key),
        session_secret=SecretStr(generate_secret()),
        log_level="WARNING",
    )
    consumer = InMemoryConsumer(InMemoryBroker(), feed_topics(True), group_id="trust-chain")
    app = gateway_app(settings, registry=new_registry(), consumer=consumer)
    async with serve(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as client:
        username = f"op-{uuid.uuid4().hex[:6]}"
        await app.state.gateway.users.create(
            username=username, role="operator", scope="071", password=PASSWORD, actor="test"
        )
        login = await client.post(
            "/v1/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        client.headers.update(
            {"Authorization": f"Bearer {login.json()['token']}", "User-Agent": BROWSER}
        )
        client.headers["X-Test-Username"] = username
        yield client


@asynccontextmanager
async def stack(database_url: str, *, gateway_actor_key: str | None = None) -> AsyncIterator[Stack]:
    keys = Keys(generate_secret(), generate_secret(), generate_secret())
    async with alerts_harness(
        database_url,
        environment="production",
        dashboard_url="https://ioc.example.gov.vn",
        service_token=SecretStr(keys.alerts_token),
        actor_key=SecretStr(keys.actor_key),
        seed_targets=False,
    ) as h:
        del h.client.headers["X-IOC-Actor"]
        claims = ActorClaims("admin@test", "admin", "08", "POST", "/v1/targets")
        created = await h.client.post(
            "/v1/targets",
            json=district_target(h.clock().date()),
            headers={
                "Authorization": f"Bearer {keys.alerts_token}",
                ACTOR_HEADER: sign_actor(claims, keys.actor_key),
            },
        )
        assert created.status_code == 201, created.text
        await h.feed(dossiers(h, "071", 62.0))  # Lâm Bình 18 points behind: critical

        metrics = metrics_app(
            MetricsSettings(
                environment="production",
                database_url=database_url,
                consumer_enabled=False,
                service_token=SecretStr(keys.metrics_token),
            )
        )
        alerts_server = await LocalServer(h.app).start()
        try:
            async with metrics.router.lifespan_context(metrics), serve(metrics) as m_address:
                signing = Keys(
                    keys.metrics_token, keys.alerts_token, gateway_actor_key or keys.actor_key
                )
                async with gateway(
                    database_url, f"http://{m_address}", alerts_server.url, signing
                ) as g:
                    yield Stack(h, g, keys)
        finally:
            await alerts_server.stop()


async def test_an_acknowledgement_reaches_alerts_under_the_verified_operator(
    fresh_database_url: str,
) -> None:
    async with stack(fresh_database_url) as s:
        username = s.gateway.headers["X-Test-Username"]
        figures = await s.gateway.get("/v1/indicators")
        assert figures.status_code == 200, figures.text  # gateway → metrics, token accepted

        listed = await s.gateway.get("/v1/alerts", params={"state": "firing"})
        assert listed.status_code == 200, listed.text
        [alert] = [a for a in listed.json()["items"] if a["unit_code"] == "071"]
        acked = await s.gateway.post(
            f"/v1/alerts/{alert['id']}/acknowledge", json={"note": "Đã giao huyện xử lý"}
        )
        assert acked.status_code == 200, acked.text

        [row] = await s.alerts.rows(sa.select(t.alerts).where(t.alerts.c.unit_code == "071"))
        assert (row["state"], row["acknowledged_by"]) == ("acknowledged", username)
        [audited] = await s.alerts.rows(
            sa.select(audit_log).where(
                audit_log.c.service == "alerts", audit_log.c.action == "alert.acknowledge"
            )
        )
        assert audited["actor"] == username
        assert audited["source_address"] == "127.0.0.1"
        assert audited["user_agent"] == BROWSER


async def test_a_gateway_signing_with_another_key_acts_in_no_ones_name(
    fresh_database_url: str,
) -> None:
    async with stack(fresh_database_url, gateway_actor_key=generate_secret()) as s:
        listed = await s.gateway.get("/v1/alerts", params={"state": "firing"})
        assert listed.status_code == 200  # reading needs only the service token
        [alert] = [a for a in listed.json()["items"] if a["unit_code"] == "071"]
        refused = await s.gateway.post(
            f"/v1/alerts/{alert['id']}/acknowledge", json={"note": "giả mạo"}
        )
        # The alerts service refused the assertion: the link is misconfigured, a 503 that
        # names the service, and nothing changed.
        assert refused.status_code == 503
        assert refused.json()["error"]["details"] == [{"field": "service", "reason": "alerts"}]
        [row] = await s.alerts.rows(sa.select(t.alerts).where(t.alerts.c.unit_code == "071"))
        assert row["state"] == "firing"
