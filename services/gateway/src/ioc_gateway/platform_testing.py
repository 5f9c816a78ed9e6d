"""The real platform for the dashboard's browser tests: ingest, metrics, alerts and the gateway
as uvicorn processes on a broker of the test's own and a fresh PostgreSQL database (shipped
like ``ioc_gateway.testing``; the tests' ``platform`` fixtures wrap ``running_platform``), and
what those tests do to it: a dashboard user made with the CLI, a department's ingest key,
flat targets, submissions pushed through ingest, the province's scorecard, a browser login."""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ioc_common.db import create_engine, session_factory
from ioc_common.infra.process import free_port, stop_process, tail
from ioc_common.infra.pytest_plugin import new_database
from ioc_common.reference.units import unit_tree
from ioc_common.testing import bts_event, eventually
from ioc_common.timeutil import vietnam_today
from ioc_gateway.testing import create_user_command
from ioc_ingest.keys import PgKeyStore

if TYPE_CHECKING:
    from playwright.async_api import Page, Response

SERVICES = ("ingest", "metrics", "alerts", "gateway")


@dataclass
class Platform:
    urls: dict[str, str]
    database_url: str


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{tail(log, 40)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready within {timeout_s}s:\n{tail(log, 40)}")


@contextlib.contextmanager
def running_platform(
    kafka_bootstrap: str, postgres_base_url: str, name: str = "browser"
) -> Iterator[Platform]:
    """The four services started, each ready (``/readyz``), stopped on exit with their logs'
    tails printed. ``kafka_bootstrap`` should be a broker of the test's own: new consumer
    groups start from the topics' beginning, and the session's topics carry every earlier
    test's messages."""
    database_url = new_database(postgres_base_url)
    run = uuid.uuid4().hex[:8]
    logs = Path(tempfile.mkdtemp(prefix=f"ioc-{name}-"))
    ports = {service: free_port() for service in SERVICES}
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "IOC_LOG_LEVEL": "WARNING",
        **{f"IOC_{service.upper()}_URL": url for service, url in urls.items()},
        "IOC_METRICS_GROUP_ID": f"metrics-{name}-{run}",
        "IOC_ALERTS_GROUP_ID": f"alerts-{name}-{run}",
        "IOC_ALERTS_GROUP_WAIT_S": "1",
        "IOC_ALERTS_DISPATCH_INTERVAL_S": "0.5",
        "IOC_ALERTS_SWEEP_INTERVAL_S": "5",
        "IOC_ALERTS_DASHBOARD_URL": urls["gateway"],
        "IOC_GATEWAY_SESSION_SECRET": uuid.uuid4().hex,
        "IOC_GATEWAY_GROUP_PREFIX": f"gateway-{name}-{run}",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for service in SERVICES:
            log = logs / f"{service}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(  # noqa: S603 — our own interpreter and modules
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        f"ioc_{service}.app:create_app",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(ports[service]),
                        "--no-access-log",
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            procs.append(proc)
            # /readyz: the gateway's consumer has its partitions, so nothing later is missed.
            _wait(f"{urls[service]}/readyz", proc, log)
        yield Platform(urls, database_url)
    finally:
        for proc in reversed(procs):
            stop_process(proc, timeout_s=10)
        for service in SERVICES:
            print(f"--- {service} log (tail) ---\n{tail(logs / f'{service}.log', 15)}")


# --- what the browser tests do to the platform ------------------------------------------------

#: Runs before the page's own scripts (injected by the browser tools, so outside the CSP) and
#: records every Content-Security-Policy violation in ``window.__cspViolations``.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}`);
});
"""


def run_cli(command: list[str], stdin: str = "", timeout_s: float = 120) -> None:
    """Run a command (``ioc …`` as an admin types it) to its end; fail with its stderr unless
    it exits 0."""
    done = subprocess.run(  # noqa: S603 — the tests' own commands
        command, input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert done.returncode == 0, done.stderr


def create_dashboard_user(
    database_url: str, username: str, role: str, scope: str, password: str
) -> None:
    """A dashboard user made through the CLI (``ioc users create``), as an admin would."""
    run_cli(
        create_user_command(username, role, scope, "--database-url", database_url),
        password + "\n",
    )


async def department_key(
    database_url: str, families: Sequence[str] = ("bts", "public_service")
) -> str:
    """A new ingest API key of Tuyên Quang's department of science and technology
    (``so-khcn-tq``) for ``families`` in every unit; the raw key, for ``Authorization:
    Bearer``."""
    engine = create_engine(database_url, pool_size=1)
    try:
        _, raw = await PgKeyStore(session_factory(engine)).create(
            provider="so-khcn-tq", families=list(families), all_units=True, actor="test"
        )
    finally:
        await engine.dispose()
    return raw


def flat_target(
    indicator: str, units: list[str], goal: float, *, id_prefix: str, **fields: Any
) -> dict[str, Any]:
    """A target definition to ``POST /v1/targets``: ``goal`` from 400 days ago to 400 days
    from now (a flat line), 5/10 points of warning/critical tolerance, with a fresh id that
    starts with ``id_prefix``; ``fields`` add or replace top-level keys (``demo``…). Not
    ``ioc_gateway.testing.target``, which is a target as the alerts service lists it."""
    today = vietnam_today()
    return {
        "id": f"{id_prefix}-{uuid.uuid4().hex[:6]}",
        "indicator": indicator,
        "scope": {"units": units},
        "baseline": {"value": goal, "date": (today - timedelta(days=400)).isoformat()},
        "goal": goal,
        "deadline": (today + timedelta(days=400)).isoformat(),
        "trajectory": "linear",
        "tolerance": {"warning": 5, "critical": 10},
    } | fields


async def post_targets(alerts_url: str, *targets: dict[str, Any]) -> None:
    """Each target created through the alerts service's API, as an admin would (201)."""
    async with httpx.AsyncClient(base_url=alerts_url, timeout=10) as alerts:
        for target in targets:
            r = await alerts.post("/v1/targets", headers={"X-IOC-Actor": "admin@test"}, json=target)
            assert r.status_code == 201, r.text


def public_service_event(unit: str, period: str, processed: int) -> dict[str, Any]:
    """A fully online public service's month in ``unit``: ``processed`` of 1,000 dossiers
    processed online (950 submitted online, 400 paid online), with a fresh ``event_id``."""
    return {
        "event_id": str(uuid.uuid4()),
        "family": "public_service",
        "unit_code": unit,
        "observed_at": period,
        "payload": {
            "service_level": "full_online",
            "dossiers_total": 1000,
            "dossiers_online": 950,
            "dossiers_processed_online": processed,
            "paid_online": 400,
        },
    }


def bts_sites_event(unit: str, period: str, sites: int) -> dict[str, Any]:
    """``sites`` BTS sites in ``unit`` over ``period``, covering 59 of its 60 villages."""
    return bts_event(unit, observed_at=period, sites=sites, villages_total=60, villages_covered=59)


def district_events(figures: Mapping[str, int], period: str) -> list[dict[str, Any]]:
    """For each district → dossiers processed online (of 1,000), its first commune's month:
    that public service figure and 30 BTS sites."""
    today = vietnam_today()
    communes = {d: unit_tree().children(d, today)[0].code for d in figures}
    events = [public_service_event(communes[d], period, n) for d, n in figures.items()]
    return events + [bts_sites_event(c, period, 30) for c in communes.values()]


def ingest_client(ingest_url: str, key: str) -> httpx.AsyncClient:
    """A client of the ingest service that sends ``key`` (from ``department_key``)."""
    return httpx.AsyncClient(
        base_url=ingest_url, headers={"Authorization": f"Bearer {key}"}, timeout=20
    )


async def push_events(ingest: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    """One batch through ingest (a client with the key's ``Authorization``), accepted (202)."""
    r = await ingest.post("/v1/events:batch", json={"events": events})
    assert r.status_code == 202, r.text


async def scorecard(metrics_url: str, unit: str = "08") -> dict[str, Any]:
    """The unit's scorecard from the metrics service: indicator → value."""
    async with httpx.AsyncClient(base_url=metrics_url) as metrics:
        card = (await metrics.get(f"/v1/units/{unit}/scorecard")).json()
    return {i["indicator"]: i["value"] for i in card["items"]}


#: The districts' scenario of the map and report tests: district → dossiers processed online
#: (of 1,000, in one of its communes) of the indicator ``RATE``. Against a flat 80% target with
#: 5/10 points of tolerance the first three are on track, lagging and critical (``STATUSES``);
#: 073 has no target.
RATE = "dossiers_processed_online_rate"
FIGURES = {"070": 905, "071": 730, "072": 500, "073": 905}
STATUSES = {"070": "on_track", "071": "warning", "072": "critical", "073": "no_target"}


async def feed_districts(
    platform: Platform, period: str, id_prefix: str, *more_targets: dict[str, Any]
) -> None:
    """The scenario: flat 80% targets of ``RATE`` for 070–072 (ids from ``id_prefix``) and
    ``more_targets``, then ``FIGURES`` of ``period`` (and 30 BTS sites a district) through
    ingest; returns once the metrics service has aggregated them all."""
    urls = platform.urls
    await post_targets(
        urls["alerts"],
        flat_target(RATE, ["070", "071", "072"], 80, id_prefix=id_prefix),
        *more_targets,
    )
    key = await department_key(platform.database_url)
    async with ingest_client(urls["ingest"], key) as ingest:
        await push_events(ingest, district_events(FIGURES, period))

    async def aggregated() -> bool:
        values = await scorecard(urls["metrics"])
        rate = values.get(RATE)
        # (905 + 730 + 500 + 905) / 4,000 = 76%
        return (
            isinstance(rate, int | float)
            and math.isclose(rate, 76.0, rel_tol=1e-6)
            and values.get("bts_sites") == 30 * len(FIGURES)
        )

    await eventually(aggregated, timeout_s=60, interval_s=0.5)


async def log_in(
    page: Page, url: str, username: str, password: str, path: str = "/dashboard"
) -> Response | None:
    """Open the dashboard at ``url + path``, log in on its form and wait for the app; the
    response to the first navigation (for its headers)."""
    from playwright.async_api import expect  # a dev dependency: tests and tools only

    response = await page.goto(url + path)
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-button")
    await expect(page.locator("#app")).to_be_visible()
    return response
