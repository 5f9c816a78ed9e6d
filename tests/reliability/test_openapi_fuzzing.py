"""Schemathesis against every service's OpenAPI, on populated data, with and without
credentials: no 5xx, every response matches its schema; anonymous calls to anything not public
are 401/403.

The four services run as processes of this test on their own Kafka and PostgreSQL, as a
province runs them (production mode, service tokens, signed actor assertions): a few thousand
events go through ingest first, so metrics answers from real aggregates, alerts has seeded
targets and open alerts, and the gateway calls the real metrics and alerts services. Ingest's
fuzzed events go on to the same pipeline (they passed its validation, so metrics must take them).

Seeds are fresh each run and printed; ``IOC_FUZZ_SEED=<n>`` replays one. ``IOC_FUZZ_EXAMPLES``
(25 by default, a third of it without credentials) sets the cases per operation: CI ≈ 3 min
here, ``IOC_FUZZ_EXAMPLES=200`` for a long run. The OpenAPI documents declare no links, so there
is no stateful (link-following) phase; the populated data gives the fuzzer real ids and codes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from ioc_common.service_auth import service_headers
from ioc_common.timeutil import vietnam_today
from tests.reliability.chaos import (
    PROVINCE,
    SERVICES,
    Platform,
    make_workload,
    wait_metrics_caught_up,
)
from tests.reliability.fuzz import SEED, FuzzReport, Headers, fuzz, write_reports

pytestmark = [pytest.mark.connected, pytest.mark.slow]

EXAMPLES = int(os.environ.get("IOC_FUZZ_EXAMPLES", "25"))
ANONYMOUS_EXAMPLES = max(5, EXAMPLES // 3)

#: What answers without credentials, by design: probes, the metrics scrape, the API document,
#: the dashboard's page and login, and ingest's published layouts (the families and the CSV
#: template of each: documentation a department reads before it has a key, no data).
PUBLIC_PATHS = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/",
    "/v1/auth/login",
    "/v1/families",
    "/v1/uploads/template/{family}",
}


def public(method: str, path: str) -> bool:
    return path in PUBLIC_PATHS


def gateway_skip(method: str, path: str) -> bool:
    # The live feeds never end (SSE/WebSocket): test_authorization_matrix and the soak read
    # them. Logout ends the fuzzer's own session (every later call would be 401):
    # test_session_revocation covers it.
    return path.startswith("/v1/live") or path == "/v1/auth/logout"


def observations(n: int) -> list[dict[str, Any]]:
    """Observation-family figures (stocks and ratios) for the province's districts."""
    today = vietnam_today()
    month = today.replace(day=1).strftime("%Y-%m")
    out = []
    for i in range(n):
        out.append(
            {
                "event_id": str(uuid.uuid4()),
                "family": "observation",
                "indicator": "households_fixed_broadband",
                "unit_code": PROVINCE,
                "observed_at": month,
                "revision": i + 1,
                "payload": {"numerator": 700 + i, "denominator": 1000},
            }
        )
    return out


async def populate(platform: Platform, database_url: str, key: str) -> dict[str, int]:
    """Events through ingest until metrics has them all and alerts has opened alerts."""
    work = make_workload(3_000, SEED % 1_000_000, vietnam_today())
    events = work.events + observations(3)
    async with httpx.AsyncClient(
        base_url=platform.url("ingest"), timeout=60, headers={"Authorization": f"Bearer {key}"}
    ) as ingest:
        for i in range(0, len(events), 500):
            r = await ingest.post("/v1/events:batch", json={"events": events[i : i + 500]})
            assert r.status_code == 202, r.text
    await wait_metrics_caught_up(database_url, platform.kafka.bootstrap, 180)
    env = platform.env
    alerts_auth = service_headers(env["IOC_ALERTS_SERVICE_TOKEN"])
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=platform.url("alerts"), timeout=30) as alerts:
        while True:
            total = (await alerts.get("/v1/alerts", headers=alerts_auth)).json()["total"]
            if total > 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    return {"events": len(events), "open_alerts": total}


@pytest.mark.timeout(1800)
async def test_every_service_survives_fuzzing_with_and_without_credentials_on_real_data() -> None:
    work = Path(tempfile.mkdtemp(prefix="ioc-fuzz-"))
    # Seeded targets, so that alerts opens alerts for the fuzzer to work on.
    platform = Platform(
        work, services=(*SERVICES, "gateway"), extra_env={"IOC_ALERTS_SEED_TARGETS": "true"}
    )
    reports: list[FuzzReport] = []
    print(f"\nschemathesis seed {SEED} (replay: IOC_FUZZ_SEED={SEED})")
    try:
        database_url, key, token = await platform.start_with_admin("fuzz")
        populated = await populate(platform, database_url, key)
        print(f"populated: {populated}")
        assert populated["open_alerts"] > 0, "the alerts service opened no alert to fuzz over"
        env = platform.env

        def alerts_headers(method: str, path: str) -> dict[str, str]:
            return service_headers(
                env["IOC_ALERTS_SERVICE_TOKEN"],
                actor="fuzz@test",
                key=env["IOC_ALERTS_ACTOR_KEY"],
                method=method,
                path=path,
                role="admin",
                unit_scope=PROVINCE,
            )

        credentials: dict[str, Headers] = {
            "ingest": lambda m, p: {"Authorization": f"Bearer {key}"},
            "metrics": lambda m, p: service_headers(env["IOC_METRICS_SERVICE_TOKEN"]),
            "alerts": alerts_headers,
            "gateway": lambda m, p: {"Authorization": f"Bearer {token}"},
        }
        for name in platform.services:
            skip = gateway_skip if name == "gateway" else (lambda m, p: False)
            for headers, examples in ((credentials[name], EXAMPLES), (None, ANONYMOUS_EXAMPLES)):
                report = await asyncio.to_thread(
                    fuzz,
                    name,
                    platform.url(name),
                    headers=headers,
                    max_examples=examples,
                    skip=skip,
                    public=public,
                )
                print(report.line())
                reports.append(report)
    finally:
        await asyncio.to_thread(platform.stop_all)
    write_reports(reports, work / "fuzz.json")
    failures = [
        f"{r.service} ({'creds' if r.credentials else 'anonymous'}) {f}"
        for r in reports
        for f in r.failures
    ]
    assert {r.service for r in reports} == {*SERVICES, "gateway"}
    assert all(r.operations > 0 and r.cases > 0 for r in reports), [r.line() for r in reports]
    assert failures == [], f"seed {SEED}:\n\n" + "\n\n".join(failures)
    shutil.rmtree(work, ignore_errors=True)  # kept (with the services' logs) on a failure
