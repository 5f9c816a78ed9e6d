"""Test helpers shipped with the package: a stand-in for the metrics and alerts services
behind ``httpx.MockTransport`` (their real boundary is HTTP), a way to serve the app on a real
port, and ``eventually``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from fastapi import FastAPI

from ioc_common.events import AlertChanged, MetricUpdated, encode_event
from ioc_common.infra.process import free_port
from ioc_common.kafka.memory import InMemoryBroker, InMemoryConsumer
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.observability import new_registry
from ioc_gateway.app import create_app
from ioc_gateway.config import GatewaySettings
from ioc_gateway.feed import feed_topics
from ioc_gateway.state import GatewayState

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def serve(app: FastAPI, **options: Any) -> AsyncIterator[str]:
    """Run ``app`` (with its lifespan) under uvicorn on a free port; yields ``host:port``.
    ``options`` go to ``uvicorn.Config``."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def alert(unit_code: str, **overrides: Any) -> dict[str, Any]:
    """An alert as the alerts service lists it."""
    now = datetime.now(UTC).isoformat()
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "fingerprint": uuid.uuid4().hex,
        "rule": "lagging",
        "target_id": "tq-dossiers",
        "indicator": "dossiers_processed_online_rate",
        "unit_code": unit_code,
        "level": "district",
        "pillar": "digital_government",
        "severity": "critical",
        "state": "firing",
        "summary_vi": f"{unit_code} chậm",
        "summary_en": f"{unit_code} lagging",
        "detail": {},
        "opened_at": now,
        "updated_at": now,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "acknowledged_note": None,
        "resolved_at": None,
        "resolved_by": None,
        "version": 1,
    }
    return body | overrides


class FakeServices:
    """Just enough of the metrics (``http://metrics``) and alerts (``http://alerts``) APIs.

    ``down`` names services that refuse connections; ``calls`` records what reached them,
    with the ``X-IOC-Actor`` header.
    """

    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}
        self.silences: list[dict[str, Any]] = []
        self.targets: list[dict[str, Any]] = []
        self.values: dict[tuple[str, str], float] = {}  # (indicator, unit) -> latest value
        self.period = "2026-11"
        self.down: set[str] = set()
        self.calls: list[tuple[str, str, str | None]] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add_alert(self, unit_code: str, **overrides: Any) -> dict[str, Any]:
        a = alert(unit_code, **overrides)
        self.alerts[a["id"]] = a
        return a

    def handle(self, request: httpx.Request) -> httpx.Response:
        service = request.url.host
        if service in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        actor = request.headers.get("X-IOC-Actor")
        self.calls.append((request.method, request.url.path, actor))
        body = json.loads(request.content) if request.content else None
        handler = self._metrics if service == "metrics" else self._alerts
        status, payload = handler(request.method, request.url.path, request.url.params, body)
        return httpx.Response(status, json=payload)

    # --- metrics

    def _metrics(
        self, method: str, path: str, params: httpx.QueryParams, body: Any
    ) -> tuple[int, Any]:
        from ioc_common.catalogue import load_catalogue

        catalogue = load_catalogue()
        if path.startswith("/v1/units/") and path.endswith("/scorecard"):
            code = path.split("/")[3]
            items = []
            for ind in catalogue.indicators:
                v = self.values.get((ind.code, code))
                items.append(
                    {
                        "indicator": ind.code,
                        "name_vi": ind.name_vi,
                        "name_en": ind.name_en,
                        "pillar": ind.pillar.value,
                        "period": self.period if v is not None else None,
                        "value": v,
                        "carried": False if v is not None else None,
                        "previous_period": None,
                        "previous_value": None,
                        "trend": "unknown",
                        "assessment": "unknown",
                    }
                )
            return 200, {"unit_code": code, "level": "x", "granularity": "month", "items": items}
        if path == "/v1/rankings":
            from ioc_common.reference.units import unit_tree
            from ioc_common.timeutil import vietnam_today

            indicator, province = params["indicator"], params["province"]
            rows = [
                {
                    "rank": None,
                    "unit_code": d.code,
                    "name": d.name,
                    "value": self.values.get((indicator, d.code)),
                    "carried": None,
                }
                for d in unit_tree().districts_of_province(province, vietnam_today())
            ]
            return 200, {
                "total": len(rows),
                "limit": 1000,
                "offset": 0,
                "indicator": indicator,
                "province": province,
                "granularity": params["granularity"],
                "period": params["period"],
                "direction": "higher_is_better",
                "province_value": self.values.get((indicator, province)),
                "province_carried": None,
                "items": rows,
            }
        if path == "/v1/values":
            indicator, unit = params["indicator"], params["unit"]
            v = self.values.get((indicator, unit))
            point = {
                "period": self.period,
                "period_start": "2026-11-01",
                "value": v,
                "numerator": None,
                "denominator": None,
                "carried": False,
            }
            return 200, {
                "total": 1,
                "limit": 1000,
                "offset": 0,
                "indicator": indicator,
                "unit_code": unit,
                "level": "district",
                "granularity": "month",
                "items": [point if v is not None else None],
                "periods": [self.period],
            }
        if path == "/v1/freshness":
            now = datetime.now(UTC).isoformat()
            items = [
                {
                    "indicator": ind,
                    "unit_code": unit,
                    "level": "district" if len(unit) == 3 else "province",
                    "last_observed_at": "2026-11-01",
                    "last_received_at": now,
                    "age_days": 0.1,
                    "reporting_interval_days": 3,
                    "stale": False,
                }
                for (ind, unit) in self.values
            ]
            return 200, {"total": len(items), "limit": 1000, "offset": 0, "items": items}
        return 404, {
            "error": {"code": "not_found", "message": "?", "message_en": "?", "details": []}
        }

    # --- alerts

    def _alerts(
        self, method: str, path: str, params: httpx.QueryParams, body: Any
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if path == "/v1/targets":
            return 200, {
                "items": self.targets,
                "total": len(self.targets),
                "limit": 500,
                "offset": 0,
            }
        if path == "/v1/alerts" and method == "GET":
            states = params.get_list("state")
            items = [a for a in self.alerts.values() if not states or a["state"] in states]
            return 200, {"items": items, "total": len(items), "limit": 500, "offset": 0}
        if parts[:2] == ["v1", "alerts"] and len(parts) >= 3:
            found = self.alerts.get(parts[2])
            if found is None:
                return 404, {
                    "error": {
                        "code": "not_found",
                        "message": "Không tìm thấy cảnh báo",
                        "message_en": "No such alert",
                        "details": [],
                    }
                }
            if len(parts) == 3:
                return 200, found | {"history": []}
            if parts[3] == "acknowledge":
                found.update(
                    state="acknowledged", acknowledged_by="?", version=found["version"] + 1
                )
                return 200, found | {"history": []}
            if parts[3] == "resolve":
                found.update(state="resolved", version=found["version"] + 1)
                return 200, found | {"history": []}
        if path == "/v1/silences" and method == "POST":
            silence = body | {"id": str(uuid.uuid4()), "active": True}
            self.silences.append(silence)
            return 201, silence
        if path == "/v1/silences":
            return 200, {
                "items": self.silences,
                "total": len(self.silences),
                "limit": 500,
                "offset": 0,
            }
        return 404, {
            "error": {"code": "not_found", "message": "?", "message_en": "?", "details": []}
        }


def target(id: str, indicator: str, scope: dict[str, Any], goal: float = 80) -> dict[str, Any]:
    """A flat target as ``GET /v1/targets`` lists it."""
    return {
        "id": id,
        "origin": "api",
        "enabled": True,
        "version": 1,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "definition": {
            "id": id,
            "indicator": indicator,
            "scope": scope,
            "baseline": {"value": goal, "date": "2025-01-01"},
            "goal": goal,
            "deadline": "2027-12-31",
            "trajectory": "linear",
            "tolerance": {"warning": 5, "critical": 10},
        },
    }


#: Debian's Chromium, driven by Playwright (the dashboard's browser tests, the README picture).
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium's connections are refused by a closed
# network; a fresh profile per run keeps runs independent.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.asynccontextmanager
async def chromium(width: int = 1600, height: int = 1000) -> AsyncIterator[BrowserContext]:
    """Debian's headless Chromium with a fresh profile, closed on exit."""
    from playwright.async_api import async_playwright  # a dev dependency: tests and tools only

    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            await context.close()


PASSWORD = "mat-khau-rat-dai-123"  # noqa: S105 — test users only


@dataclasses.dataclass
class Gateway:
    address: str
    state: GatewayState
    fakes: FakeServices
    broker: InMemoryBroker
    prefix: str  # makes usernames unique in the session's shared database

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    async def user(self, name: str, role: str, scope: str) -> str:
        username = f"{self.prefix}-{name}"
        await self.state.users.create(
            username=username, role=role, scope=scope, password=PASSWORD, actor="test"
        )
        return username

    async def client(self, username: str) -> httpx.AsyncClient:
        """An API client logged in as ``username`` (bearer token)."""
        async with httpx.AsyncClient(base_url=self.url) as anonymous:
            r = await anonymous.post(
                "/v1/auth/login", json={"username": username, "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {r.json()['token']}"}
        )

    async def token(self, username: str) -> str:
        return self.state.signer.issue(username)[0]

    def publish(self, topic: str, event: AlertChanged | MetricUpdated) -> None:
        self.broker.append(OutgoingRecord(topic, encode_event(event), event.unit_code))


def alert_changed(unit_code: str, **overrides: Any) -> AlertChanged:
    body: dict[str, Any] = {
        "alert_id": uuid.uuid4(),
        "fingerprint": uuid.uuid4().hex,
        "rule": "lagging",
        "indicator": "dossiers_processed_online_rate",
        "unit_code": unit_code,
        "pillar": "digital_government",
        "state": "firing",
        "severity": "critical",
        "summary_vi": "chậm",
        "summary_en": "lagging",
        "changed_at": datetime.now(UTC),
        "version": 1,
    }
    return AlertChanged.model_validate(body | overrides)


def metric_updated(
    unit_code: str, value: float, version: int = 1, **overrides: Any
) -> MetricUpdated:
    body: dict[str, Any] = {
        "indicator": "dossiers_processed_online_rate",
        "unit_code": unit_code,
        "level": {2: "province", 3: "district"}.get(len(unit_code), "commune"),
        "granularity": "month",
        "period": "2026-11",
        "period_start": date(2026, 11, 1),
        "value": value,
        "previous_value": None,
        "version": version,
        "updated_at": datetime.now(UTC),
    }
    return MetricUpdated.model_validate(body | overrides)


@contextlib.asynccontextmanager
async def gateway_harness(
    database_url: str, *, server: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[Gateway]:
    """The gateway served on a free port: users in real PostgreSQL, the metrics and alerts
    services faked over HTTP, the live feed read from an in-memory broker."""
    fakes = FakeServices()
    broker = InMemoryBroker()
    options: dict[str, Any] = {
        "database_url": database_url,
        "metrics_url": "http://metrics",
        "alerts_url": "http://alerts",
        "session_secret": "test-secret-" + uuid.uuid4().hex,
        "user_cache_ttl_s": 0,
        "log_level": "WARNING",
    } | overrides
    settings = GatewaySettings(**options)
    consumer = InMemoryConsumer(broker, feed_topics(True), group_id="gateway-test")
    app = create_app(
        settings, registry=new_registry(), consumer=consumer, transport=fakes.transport()
    )
    async with serve(app, **(server or {})) as address:
        yield Gateway(address, app.state.gateway, fakes, broker, uuid.uuid4().hex[:8])
