"""The authorization matrix of the internal services' own APIs, on real PostgreSQL.

Every route of the metrics and alerts apps (read from the apps themselves, so a new endpoint is
covered the day it is added) × every kind of caller:

| caller                                   | metrics | alerts read | alerts write |
|------------------------------------------|---------|-------------|--------------|
| anonymous                                | 401     | 401         | 401          |
| a wrong token / another service's token  | 401     | 401         | 401          |
| the service token alone                  | allowed | allowed     | 401          |
| + a forged plain ``X-IOC-Actor``         | –       | –           | 401          |
| + an assertion signed with another key   | –       | –           | 401          |
| + an assertion made for another request  | –       | –           | 401          |
| + an expired assertion                   | –       | –           | 401          |
| + the gateway's valid assertion          | –       | –           | allowed      |

"allowed" means the request got past authentication (any answer but 401/403). ``/healthz`` and
``/readyz`` stay open to everyone. Both apps run with ``IOC_ENV=production`` and strong
secrets, as a province runs them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import SecretStr

from ioc_alerts.app import create_app as alerts_app
from ioc_alerts.config import AlertsSettings
from ioc_common.audit import audit_log
from ioc_common.db import create_engine
from ioc_common.secrets import generate_secret
from ioc_common.service_auth import ACTOR_HEADER, ActorClaims, sign_actor
from ioc_metrics.app import create_app as metrics_app
from ioc_metrics.config import MetricsSettings

pytestmark = pytest.mark.connected

OPEN = {"/healthz", "/readyz"}
#: Path parameters filled with well-formed values, so authentication is what is judged.
SAMPLE_PARAMS = {
    "alert_id": str(uuid.uuid4()),
    "silence_id": str(uuid.uuid4()),
    "recipient_id": str(uuid.uuid4()),
    "delivery_id": str(uuid.uuid4()),
    "target_id": "no-such-target",
    "code": "071",
    "unit_code": "071",
    "indicator": "bts_sites",
}


@dataclass(frozen=True)
class Secrets:
    metrics_token: str
    alerts_token: str
    actor_key: str


@dataclass
class Services:
    metrics: httpx.AsyncClient
    alerts: httpx.AsyncClient
    metrics_routes: list[tuple[str, str]]
    alerts_routes: list[tuple[str, str]]
    secrets: Secrets
    database_url: str


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, concrete path) of every documented operation except the open ones."""
    found: list[tuple[str, str]] = []
    for template, operations in app.openapi()["paths"].items():
        if template in OPEN | {"/metrics"}:
            continue
        path = template
        for name, value in SAMPLE_PARAMS.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"add a sample for {template}"
        found.extend((method.upper(), path) for method in sorted(operations))
    return found


@pytest.fixture
async def services(fresh_database_url: str) -> AsyncIterator[Services]:
    keys = Secrets(generate_secret(), generate_secret(), generate_secret())
    common: dict[str, Any] = {"database_url": fresh_database_url, "environment": "production"}
    metrics = metrics_app(
        MetricsSettings(
            **common, consumer_enabled=False, service_token=SecretStr(keys.metrics_token)
        )
    )
    alerts = alerts_app(
        AlertsSettings(
            **common,
            run_workers=False,
            service_token=SecretStr(keys.alerts_token),
            actor_key=SecretStr(keys.actor_key),
            dashboard_url="https://ioc.example.gov.vn",
            log_level="WARNING",
        )
    )
    async with (
        metrics.router.lifespan_context(metrics),
        alerts.router.lifespan_context(alerts),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=metrics), base_url="http://metrics"
        ) as m,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=alerts), base_url="http://alerts") as a,
    ):
        yield Services(m, a, routes(metrics), routes(alerts), keys, fresh_database_url)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assertion(
    key: str, method: str, path: str, *, actor: str = "nguyen.van.a", ttl_s: int = 60
) -> dict[str, str]:
    claims = ActorClaims(actor, "operator", "08", method, path, "203.0.113.7", "Firefox/140")
    return {ACTOR_HEADER: sign_actor(claims, key, ttl_s=ttl_s)}


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> int:
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    response = await client.request(method, path, headers=headers, json=body)
    return response.status_code


async def test_open_paths_answer_everyone(services: Services) -> None:
    for client in (services.metrics, services.alerts):
        for path in sorted(OPEN):
            assert await call(client, "GET", path, {}) == 200, path


async def test_metrics_answers_only_its_service_token(services: Services) -> None:
    s = services.secrets
    assert len(services.metrics_routes) >= 5
    for method, path in services.metrics_routes:
        for who, headers in {
            "anonymous": {},
            "wrong token": bearer(generate_secret()),
            "the alerts token": bearer(s.alerts_token),
            "not a bearer": {"Authorization": s.metrics_token},
        }.items():
            assert await call(services.metrics, method, path, headers) == 401, (who, path)
        assert await call(services.metrics, method, path, bearer(s.metrics_token)) not in (
            401,
            403,
        ), path


async def test_alerts_reads_need_the_token_and_writes_a_verified_actor(
    services: Services,
) -> None:
    s, client = services.secrets, services.alerts
    token = bearer(s.alerts_token)
    writes = [(m, p) for m, p in services.alerts_routes if m != "GET"]
    reads = [(m, p) for m, p in services.alerts_routes if m == "GET"]
    assert len(writes) >= 8
    assert len(reads) >= 5
    for method, path in services.alerts_routes:
        for who, headers in {
            "anonymous": {},
            "wrong token": bearer(generate_secret()),
            "the metrics token": bearer(s.metrics_token),
            "valid assertion, no token": assertion(s.actor_key, method, path),
        }.items():
            assert await call(client, method, path, headers) == 401, (who, method, path)
    for method, path in reads:
        assert await call(client, method, path, token) not in (401, 403), path
    for method, path in writes:
        refused = {
            "token alone": token,
            "forged X-IOC-Actor": token | {"X-IOC-Actor": "chu.tich.tinh"},
            "other key": token | assertion(generate_secret(), method, path),
            "other request": token | assertion(s.actor_key, method, "/v1/targets/other"),
            "other method": token
            | assertion(s.actor_key, "DELETE" if method != "DELETE" else "POST", path),
            "expired": token | assertion(s.actor_key, method, path, ttl_s=-5),
            "tampered": token
            | {ACTOR_HEADER: assertion(s.actor_key, method, path)[ACTOR_HEADER][:-3] + "AAA"},
        }
        for who, headers in refused.items():
            assert await call(client, method, path, headers) == 401, (who, method, path)
        allowed = token | assertion(s.actor_key, method, path)
        assert await call(client, method, path, allowed) not in (401, 403), (method, path)


async def test_an_action_is_audited_under_the_verified_actor(services: Services) -> None:
    s = services.secrets
    recipient = {
        "name": "Sở KH&CN",
        "units": ["08"],
        "channels": [{"channel": "email", "address": "so-khcn@tuyenquang.gov.vn"}],
    }
    path = "/v1/recipients"
    answer = await services.alerts.post(
        path,
        json=recipient,
        headers=bearer(s.alerts_token)
        | assertion(s.actor_key, "POST", path, actor="tran.thi.b")
        | {"X-IOC-Actor": "someone-else"},
    )
    assert answer.status_code == 201, answer.text
    engine = create_engine(services.database_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(audit_log).where(audit_log.c.action == "recipient.create")
                )
            ).one()
    finally:
        await engine.dispose()
    assert row.actor == "tran.thi.b"
    assert (row.source_address, row.user_agent) == ("203.0.113.7", "Firefox/140")
