"""Schemathesis against each service's OpenAPI: no 5xx and every response matches its schema.

Each app runs in-process, served on a real port (its lifespan opens the real database; ingest
publishes to the in-memory broker so fuzzed events never reach the session's shared topics).
Authenticated endpoints get a valid key, actor or session, so the fuzzer reaches the handlers.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.types import ASGIApp

from ioc_alerts.app import create_app as create_alerts
from ioc_alerts.config import AlertsSettings
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.observability import new_registry
from ioc_common.testing import serve
from ioc_gateway.testing import gateway_harness
from ioc_ingest.app import create_app as create_ingest
from ioc_ingest.keys import InMemoryKeyStore
from ioc_ingest.seen import InMemorySeenStore
from ioc_ingest.testing import settings_for_tests
from ioc_metrics.app import create_app as create_metrics
from ioc_metrics.config import MetricsSettings
from tests.reliability.fuzz import FuzzReport, fuzz

pytestmark = [pytest.mark.connected, pytest.mark.slow]

EXAMPLES = int(os.environ.get("IOC_FUZZ_EXAMPLES", "25"))


def check(report: FuzzReport, out: Path) -> None:
    out.write_text(report.line() + "\n" + "\n".join(report.failures) + "\n")
    print(report.line())
    assert report.operations > 0
    assert report.cases > 0
    assert report.failures == [], "\n\n".join(report.failures)


async def fuzz_served(app: ASGIApp, name: str, headers: dict[str, str], tmp_path: Path) -> None:
    """Fuzz an app served on a real port, with ``headers`` on every request; ``check`` it."""
    async with serve(app) as address:
        report = await asyncio.to_thread(
            fuzz, name, f"http://{address}", headers=headers, max_examples=EXAMPLES
        )
    check(report, tmp_path / f"{name}.txt")


async def test_ingest_openapi_fuzzing(tmp_path: Path) -> None:
    keys = InMemoryKeyStore()
    _, key = keys.create(
        provider="fuzz",
        families=["bts", "public_service", "cashless", "observation"],
        units=("08",),
        indicators=(),
        all_units=False,
    )
    app = create_ingest(
        settings_for_tests(),
        publisher=InMemoryPublisher(InMemoryBroker(partitions=6)),
        key_store=keys,
        seen_store=InMemorySeenStore(),
        registry=new_registry(),
    )
    await fuzz_served(app, "ingest", {"Authorization": f"Bearer {key}"}, tmp_path)


async def test_metrics_openapi_fuzzing(
    kafka_bootstrap: str, fresh_database_url: str, tmp_path: Path
) -> None:
    settings = MetricsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=fresh_database_url,
        consumer_enabled=False,
        log_level="WARNING",
    )
    await fuzz_served(create_metrics(settings), "metrics", {}, tmp_path)


async def test_alerts_openapi_fuzzing(
    kafka_bootstrap: str, fresh_database_url: str, tmp_path: Path
) -> None:
    settings = AlertsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=fresh_database_url,
        run_workers=False,
        service_token=SecretStr("fuzz-service-token"),
        log_level="WARNING",
    )
    headers = {"Authorization": "Bearer fuzz-service-token", "X-IOC-Actor": "fuzz@test"}
    await fuzz_served(create_alerts(settings, registry=new_registry()), "alerts", headers, tmp_path)


async def test_gateway_openapi_fuzzing(fresh_database_url: str, tmp_path: Path) -> None:
    async with gateway_harness(fresh_database_url) as gateway:
        admin = await gateway.user("fuzz-admin", "admin", "08")
        token = await gateway.token(admin)
        report = await asyncio.to_thread(
            fuzz,
            "gateway",
            gateway.url,
            headers={"Authorization": f"Bearer {token}"},
            max_examples=EXAMPLES,
            # The live feeds never end (SSE/WebSocket): test_authorization_matrix reads them.
            # Logout ends the fuzzer's own session (every later call would be 401):
            # test_session_revocation covers it.
            skip=lambda method, path: path.startswith("/v1/live") or path == "/v1/auth/logout",
        )
    check(report, tmp_path / "gateway.txt")
