"""Test helpers shipped with the package: a stand-in for the metrics and alerts services
behind ``httpx.MockTransport`` (their real boundary is HTTP), a way to serve the app on a real
port (``ioc_common.testing.serve``)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel

from ioc_common.contracts.alerts import (
    AlertDetailOut,
    AlertOut,
    AlertsPage,
    AssessmentOut,
    AssessmentsOut,
    SilenceOut,
    SilencesPage,
    TargetOut,
    TargetsPage,
)
from ioc_common.contracts.metrics import (
    FreshnessOut,
    FreshnessPage,
    PointOut,
    RankedOut,
    RankingOut,
    ScorecardOut,
    ScoreOut,
    SeriesOut,
)
from ioc_common.events import (
    AggregationLevel,
    AlertChanged,
    MetricUpdated,
    encode_event,
    encode_metric_updates,
)
from ioc_common.kafka.memory import InMemoryBroker, InMemoryConsumer
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.observability import new_registry
from ioc_common.reference.units import level_of
from ioc_common.testing import ioc_command, serve
from ioc_common.timeutil import Granularity
from ioc_gateway.app import create_app
from ioc_gateway.config import GatewaySettings
from ioc_gateway.feed import feed_topics
from ioc_gateway.state import GatewayState

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext


def create_user_command(username: str, role: str, scope: str, *options: str) -> list[str]:
    """``ioc users create`` as an admin types it, the password read from stdin."""
    user = ["--username", username, "--role", role, "--scope", scope]
    return ioc_command("users", "create", *user, "--password-stdin", *options)


def alert(unit_code: str, **overrides: Any) -> dict[str, Any]:
    """An alert as the alerts service lists it (``AlertOut`` as JSON)."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "id": uuid.uuid4(),
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
    return AlertOut.model_validate(body | overrides).model_dump(mode="json")


def silence(unit_code: str | None, **overrides: Any) -> dict[str, Any]:
    """A silence as the alerts service lists it (``SilenceOut`` as JSON), active for a day."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "id": uuid.uuid4(),
        "indicator": None,
        "unit_code": unit_code,
        "pillar": None,
        "severity": None,
        "starts_at": now,
        "ends_at": now + timedelta(days=1),
        "created_by": "operator@test",
        "reason": "bảo trì",
        "created_at": now,
        "active": True,
    }
    return SilenceOut.model_validate(body | overrides).model_dump(mode="json")


def target(id: str, indicator: str, scope: dict[str, Any], goal: float = 80) -> dict[str, Any]:
    """A flat target as ``GET /v1/targets`` lists it (``TargetOut`` as JSON)."""
    return TargetOut(
        id=id,
        origin="api",
        enabled=True,
        version=1,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        definition={
            "id": id,
            "indicator": indicator,
            "scope": scope,
            "baseline": {"value": goal, "date": "2025-01-01"},
            "goal": goal,
            "deadline": "2027-12-31",
            "trajectory": "linear",
            "tolerance": {"warning": 5, "critical": 10},
        },
    ).model_dump(mode="json")


def _not_found(vi: str = "Không tìm thấy", en: str = "Not found") -> dict[str, Any]:
    return {"error": {"code": "not_found", "message": vi, "message_en": en, "details": []}}


#: What a stand-in endpoint answers: a status and a contract model (or an error body).
Answer = tuple[int, BaseModel | dict[str, Any]]
_ALERT_PATHS: tuple[list[str], ...] = ([], ["acknowledge"], ["resolve"])  # below /v1/alerts/{id}


class FakeServices:
    """Just enough of the metrics (``http://metrics``) and alerts (``http://alerts``) APIs,
    every answer built from their contract models (``ioc_common.contracts``).

    ``alerts``, ``silences``, ``targets`` and ``assessments`` hold what the alerts service
    would list, as JSON (``alert``, ``silence``, ``target``, ``AssessmentOut``); ``values``
    the latest value per (indicator, unit). ``down`` names services that refuse connections;
    ``calls`` records what reached them, with the ``X-IOC-Actor`` header.
    """

    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}
        self.silences: list[dict[str, Any]] = []
        self.targets: list[dict[str, Any]] = []
        #: What ``GET /v1/assessments`` answers (``AssessmentOut`` as JSON), for any date.
        self.assessments: list[dict[str, Any]] = []
        self.values: dict[tuple[str, str], float] = {}  # (indicator, unit) -> latest value
        #: Names the metrics service gives units in its rankings, instead of the reference's.
        self.unit_names: dict[str, str] = {}
        self.period = "2026-11"
        self.down: set[str] = set()
        self.calls: list[tuple[str, str, str | None]] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add_alert(self, unit_code: str, **overrides: Any) -> dict[str, Any]:
        a = alert(unit_code, **overrides)
        self.alerts[a["id"]] = a
        return a

    def add_silence(self, unit_code: str | None, **overrides: Any) -> dict[str, Any]:
        s = silence(unit_code, **overrides)
        self.silences.append(s)
        return s

    def handle(self, request: httpx.Request) -> httpx.Response:
        service = request.url.host
        if service in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        actor = request.headers.get("X-IOC-Actor")
        self.calls.append((request.method, request.url.path, actor))
        body = json.loads(request.content) if request.content else None
        handler = self._metrics if service == "metrics" else self._alerts
        status, payload = handler(request.method, request.url.path, request.url.params, body)
        if isinstance(payload, BaseModel):
            payload = payload.model_dump(mode="json")
        return httpx.Response(status, json=payload)

    # --- metrics

    def _metrics(self, method: str, path: str, params: httpx.QueryParams, body: Any) -> Answer:
        from ioc_common.catalogue import load_catalogue
        from ioc_common.reference.units import unit_tree
        from ioc_common.timeutil import vietnam_today

        if path.startswith("/v1/units/") and path.endswith("/scorecard"):
            code = path.split("/")[3]
            items = []
            for ind in load_catalogue().indicators:
                v = self.values.get((ind.code, code))
                items.append(
                    ScoreOut(
                        indicator=ind.code,
                        name_vi=ind.name_vi,
                        name_en=ind.name_en,
                        pillar=ind.pillar.value,
                        period=self.period if v is not None else None,
                        value=v,
                        carried=False if v is not None else None,
                        previous_period=None,
                        previous_value=None,
                        trend="unknown",
                        assessment="unknown",
                    )
                )
            return 200, ScorecardOut(
                unit_code=code, level=_level(code), granularity=Granularity.MONTH, items=items
            )
        if path == "/v1/rankings":
            indicator, province = params["indicator"], params["province"]
            rows = [
                RankedOut(
                    rank=None,
                    unit_code=d.code,
                    name=self.unit_names.get(d.code, d.name),
                    value=self.values.get((indicator, d.code)),
                    carried=None,
                )
                for d in unit_tree().districts_of_province(province, vietnam_today())
            ]
            return 200, RankingOut(
                total=len(rows),
                limit=1000,
                offset=0,
                indicator=indicator,
                province=province,
                granularity=Granularity(params["granularity"]),
                period=params["period"],
                direction="higher_is_better",
                province_value=self.values.get((indicator, province)),
                province_carried=None,
                items=rows,
            )
        if path == "/v1/values":
            indicator, unit = params["indicator"], params["unit"]
            v = self.values.get((indicator, unit))
            point = PointOut(
                period=self.period, period_start=date(2026, 11, 1), value=v, carried=False
            )
            return 200, SeriesOut(
                total=1,
                limit=1000,
                offset=0,
                indicator=indicator,
                unit_code=unit,
                level=AggregationLevel.DISTRICT,
                granularity=Granularity.MONTH,
                items=[point if v is not None else None],
                periods=[self.period],
            )
        if path == "/v1/freshness":
            now = datetime.now(UTC)
            found = [
                FreshnessOut(
                    indicator=ind,
                    unit_code=unit,
                    level=_level(unit).value,
                    last_observed_at=date(2026, 11, 1),
                    last_received_at=now,
                    age_days=0.1,
                    reporting_interval_days=3,
                    stale=False,
                )
                for (ind, unit) in self.values
            ]
            return 200, FreshnessPage(total=len(found), limit=1000, offset=0, items=found)
        return 404, _not_found()

    # --- alerts

    def _alerts(self, method: str, path: str, params: httpx.QueryParams, body: Any) -> Answer:
        parts = path.strip("/").split("/")
        if path == "/v1/targets":
            targets = [TargetOut.model_validate(t) for t in self.targets]
            return 200, TargetsPage(items=targets, total=len(targets), limit=500, offset=0)
        if path == "/v1/assessments":
            unit, level = params.get("unit"), params.get("level")
            items = [
                AssessmentOut.model_validate(a)
                for a in self.assessments
                if a["unit_code"] == unit or a["level"] == level
            ]
            statuses = ("on_track", "lagging", "deadline_missed", "missing")
            counts = {s: sum(1 for i in items if i.status == s) for s in statuses}
            return 200, AssessmentsOut(
                as_of=date.fromisoformat(params["as_of"]),
                indicator=params["indicator"],
                items=items,
                counts=counts,
            )
        if path == "/v1/alerts" and method == "GET":
            states = params.get_list("state")
            found = [
                AlertOut.model_validate(a)
                for a in self.alerts.values()
                if not states or a["state"] in states
            ]
            return 200, AlertsPage(items=found, total=len(found), limit=500, offset=0)
        if parts[:2] == ["v1", "alerts"] and len(parts) >= 3 and parts[3:] in _ALERT_PATHS:
            one = self.alerts.get(parts[2])
            if one is None:
                return 404, _not_found("Không tìm thấy cảnh báo", "No such alert")
            if parts[3:] == ["acknowledge"]:
                one.update(state="acknowledged", acknowledged_by="?", version=one["version"] + 1)
            elif parts[3:] == ["resolve"]:
                one.update(state="resolved", version=one["version"] + 1)
            return 200, AlertDetailOut.model_validate(one | {"history": []})
        if path == "/v1/silences" and method == "POST":
            given = {k: v for k, v in body.items() if v is not None}
            created = self.add_silence(given.pop("unit_code", None), **given)
            return 201, SilenceOut.model_validate(created)
        if path == "/v1/silences":
            listed = [SilenceOut.model_validate(s) for s in self.silences]
            return 200, SilencesPage(items=listed, total=len(listed), limit=500, offset=0)
        if parts[:2] == ["v1", "silences"] and len(parts) == 3:
            kept = next((s for s in self.silences if s["id"] == parts[2]), None)
            if kept is None:
                return 404, _not_found()
            if method == "DELETE":
                kept["active"] = False
            return 200, SilenceOut.model_validate(kept)
        return 404, _not_found()


def _level(code: str) -> AggregationLevel:
    return AggregationLevel(level_of(code))


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
        """A session token for ``username`` at their current ``token_version``."""
        user = await self.state.users.get(username)
        return self.state.signer.issue(username, user.token_version if user else 0)[0]

    def publish(self, topic: str, event: AlertChanged | MetricUpdated) -> None:
        """One record: an alert change, or a metric update as a ``MetricUpdates`` of one."""
        if isinstance(event, MetricUpdated):
            self.publish_updates(topic, event)
        else:
            self.broker.append(OutgoingRecord(topic, encode_event(event), event.unit_code))

    def publish_updates(self, topic: str, *updates: MetricUpdated) -> None:
        """One ``MetricUpdates`` record of ``updates`` (all of one unit, its key), as the
        metrics service publishes a batch's changes of a unit."""
        value = encode_metric_updates(updates)
        self.broker.append(OutgoingRecord(topic, value, updates[0].unit_code))


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
        "level": level_of(unit_code).value,
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
