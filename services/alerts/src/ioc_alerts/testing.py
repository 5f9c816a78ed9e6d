"""Real local stand-ins for the outside world, for tests and demos: an SMTP server
(aiosmtpd), a webhook receiver that verifies Standard Webhooks signatures, and a Zalo OA API
stand-in following its documented endpoints and error codes. Only tests import this module
(aiosmtpd is a development dependency)."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ioc_alerts.app import create_app
from ioc_alerts.channels.webhook import verify
from ioc_alerts.config import AlertsSettings
from ioc_alerts.dispatcher import Dispatcher
from ioc_alerts.notifications import queue_repeats
from ioc_alerts.observations import record_updates
from ioc_alerts.state import AlertsState
from ioc_alerts.workers import SWEEP_SLICE, Workers
from ioc_common.db import transaction
from ioc_common.events import (
    MAX_METRIC_UPDATES,
    AggregationLevel,
    MetricUpdated,
    encode_metric_updates,
)
from ioc_common.infra.process import free_port
from ioc_common.kafka.memory import InMemoryBroker, InMemoryConsumer, InMemoryPublisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.testing import LocalServer
from ioc_common.timeutil import Granularity, period_label
from ioc_common.topics import METRICS_UPDATED
from ioc_common.wire import metric_update_of

# --- SMTP ---------------------------------------------------------------------------------------


@dataclass
class MailSink:
    """An aiosmtpd server on a free port that keeps every message it receives."""

    messages: list[EmailMessage] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _controller: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> MailSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)


# --- webhooks -------------------------------------------------------------------------------------


@dataclass
class ReceivedHook:
    webhook_id: str
    body: dict[str, Any]
    valid: bool


class WebhookReceiver:
    """Verifies each delivery's signature and records it; a repeated ``webhook-id`` is
    counted in ``duplicates`` (a receiver would ignore it)."""

    def __init__(self, secret: str, port: int | None = None) -> None:
        self.secret = secret
        self.hooks: list[ReceivedHook] = []
        self.duplicates: list[str] = []
        self.fail_with: int | None = None
        #: What a failing answer carries (a receiver's error page, say).
        self.fail_body: bytes = b""
        self.server = LocalServer(
            Starlette(routes=[Route("/hook", self._hook, methods=["POST"])]), port
        )

    @property
    def url(self) -> str:
        return self.server.url + "/hook"

    async def _hook(self, request: Request) -> Response:
        raw = await request.body()
        if self.fail_with is not None:
            return Response(self.fail_body, status_code=self.fail_with, media_type="text/html")
        headers = {k.lower(): v for k, v in request.headers.items()}
        valid = verify(self.secret, headers, raw)
        if not valid:
            return Response(status_code=401)
        hook_id = headers["webhook-id"]
        if any(h.webhook_id == hook_id for h in self.hooks):
            self.duplicates.append(hook_id)
        else:
            import json

            self.hooks.append(ReceivedHook(hook_id, json.loads(raw), valid))
        return Response(status_code=204)

    def valid_hooks(self) -> list[ReceivedHook]:
        return [h for h in self.hooks if h.valid]


# --- Zalo -----------------------------------------------------------------------------------------


class ZaloStandIn:
    """Zalo's documented shapes: ``POST /v4/oa/access_token`` (form: refresh_token, app_id,
    grant_type=refresh_token; header secret_key) and ``POST /v3.0/oa/message/cs`` (header
    access_token; JSON recipient.user_id and message.text) answering ``{"error": 0, ...}`` or
    a negative code: -216 invalid/expired token, -213 not a follower, -32 rate limit."""

    def __init__(self, *, app_id: str, secret_key: str, refresh_token: str) -> None:
        self.app_id = app_id
        self.secret_key = secret_key
        self.refresh_token = refresh_token
        self.valid_tokens: set[str] = set()
        self.followers: set[str] = set()
        self.quota_left: int | None = None
        self.messages: list[dict[str, Any]] = []
        self.refreshes = 0
        self.rejected_tokens: list[str] = []
        self.server = LocalServer(
            Starlette(
                routes=[
                    Route("/v4/oa/access_token", self._token, methods=["POST"]),
                    Route("/v3.0/oa/message/cs", self._message, methods=["POST"]),
                ]
            )
        )

    @property
    def url(self) -> str:
        return self.server.url

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        if (
            request.headers.get("secret_key") != self.secret_key
            or form.get("app_id") != self.app_id
        ):
            return JSONResponse({"error": -14002, "error_name": "Invalid app"})
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("refresh_token") != self.refresh_token
        ):
            return JSONResponse({"error": -14014, "error_name": "Invalid refresh token"})
        self.refreshes += 1
        access = f"access-{self.refreshes}"
        self.refresh_token = f"refresh-{self.refreshes}"  # Zalo rotates it on every use
        self.valid_tokens.add(access)
        return JSONResponse(
            {"access_token": access, "refresh_token": self.refresh_token, "expires_in": "90000"}
        )

    async def _message(self, request: Request) -> Response:
        token = request.headers.get("access_token", "")
        if token not in self.valid_tokens:
            self.rejected_tokens.append(token)
            return JSONResponse({"error": -216, "message": "Access token is invalid"})
        body = await request.json()
        user = body["recipient"]["user_id"]
        if user not in self.followers:
            return JSONResponse({"error": -213, "message": "User has not followed OA"})
        if self.quota_left is not None:
            if self.quota_left <= 0:
                return JSONResponse({"error": -32, "message": "Exceeded rate limit / quota"})
            self.quota_left -= 1
        self.messages.append(body)
        return JSONResponse(
            {
                "error": 0,
                "message": "Success",
                "data": {"message_id": f"m{len(self.messages)}", "user_id": user},
            }
        )


INDICATOR = "dossiers_processed_online_rate"


def district_target(today: date, **overrides: Any) -> dict[str, Any]:
    """80% of dossiers processed online in every Tuyên Quang district (flat), warning 5 and
    critical 10 points behind."""
    body: dict[str, Any] = {
        "id": "tq-dossiers-online-district",
        "indicator": INDICATOR,
        "scope": {"level": "district", "within": ["08"]},
        "baseline": {"value": 80, "date": (today - timedelta(days=400)).isoformat()},
        "goal": 80,
        "deadline": (today + timedelta(days=400)).isoformat(),
        "trajectory": "linear",
        "tolerance": {"warning": 5, "critical": 10},
        "note_vi": "Chỉ tiêu thử nghiệm",
    }
    body.update(overrides)
    return body


# --- events ---------------------------------------------------------------------------------


def email_and_webhook_recipient(
    name: str, unit: str, address: str, hook: WebhookReceiver
) -> dict[str, Any]:
    """A recipient's body: ``name``, for ``unit``, told by email at ``address`` and by ``hook``."""
    return {
        "name": name,
        "units": [unit],
        "channels": [
            {"channel": "email", "address": address},
            {"channel": "webhook", "url": hook.url, "secret": hook.secret},
        ],
    }


def metric_update(
    indicator: str,
    unit_code: str,
    *,
    numerator: float | None = None,
    denominator: float | None = None,
    value: float | None = None,
    period_start: Any,
    granularity: Granularity = Granularity.MONTH,
    level: AggregationLevel = AggregationLevel.DISTRICT,
    version: int = 1,
    updated_at: datetime | None = None,
) -> MetricUpdated:
    """A ``MetricUpdated`` as the metrics service publishes it."""
    if value is None and numerator is not None and denominator:
        value = numerator / denominator
    return MetricUpdated(
        indicator=indicator,
        unit_code=unit_code,
        level=level,
        granularity=granularity,
        period=period_label(period_start, granularity),
        period_start=period_start,
        value=value,
        previous_value=None,
        numerator=numerator,
        denominator=denominator,
        version=version,
        updated_at=updated_at or datetime.now(UTC),
    )


def update_records(
    updates: Sequence[MetricUpdated],
    topic: str = METRICS_UPDATED,
    per_record: int = MAX_METRIC_UPDATES,
) -> list[OutgoingRecord]:
    """``updates`` as the metrics service publishes one batch's: a ``MetricUpdates`` record per
    unit (keyed by it, its updates in the given order; split every ``per_record``), units in
    the order they first appear."""
    by_unit: dict[str, list[MetricUpdated]] = {}
    for update in updates:
        by_unit.setdefault(update.unit_code, []).append(update)
    return [
        OutgoingRecord(topic, encode_metric_updates(mine[i : i + per_record]), unit)
        for unit, mine in by_unit.items()
        for i in range(0, len(mine), per_record)
    ]


async def publish_updates(
    broker: InMemoryBroker, updates: Sequence[MetricUpdated], per_record: int = MAX_METRIC_UPDATES
) -> int:
    """Publish ``updates`` as ``update_records`` makes them; returns how many records."""
    records = update_records(updates, per_record=per_record)
    await InMemoryPublisher(broker).publish_many(records)
    return len(records)


def dossiers(
    h: Harness, unit: str, pct: float, version: int = 1, *, days_ago: float = 0
) -> MetricUpdated:
    """``pct`` % of 1,000 dossiers processed online in ``unit`` this month (district level),
    as published ``days_ago`` days ago by the harness's clock."""
    return metric_update(
        INDICATOR,
        unit,
        numerator=pct * 10,
        denominator=1000,
        period_start=h.clock().date().replace(day=1),
        version=version,
        updated_at=h.clock() - timedelta(days=days_ago),
    )


# --- the app in-process, its loops driven by hand -----------------------------------------------


class MutableClock:
    """A clock tests move forward (timezone-aware UTC)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Harness:
    """The app with its lifespan run, no background loops: tests call each step."""

    app: Any
    client: httpx.AsyncClient
    clock: MutableClock
    settings: AlertsSettings

    @property
    def state(self) -> AlertsState:
        state: AlertsState = self.app.state.alerts
        return state

    @property
    def dispatcher(self) -> Dispatcher:
        return self.state.dispatcher

    async def workers_on(self, broker: InMemoryBroker, batch_size: int = 2000) -> Workers:
        """The service's consumer, publisher and loops on an in-memory broker, driven by hand."""
        publisher = InMemoryPublisher(broker)
        consumer = InMemoryConsumer(broker, [METRICS_UPDATED], group_id="ioc-alerts")
        await publisher.start()
        await consumer.start()
        return Workers(
            sessions=self.state.sessions,
            consumer=consumer,
            publisher=publisher,
            evaluator=self.state.evaluator,
            dispatcher=self.dispatcher,
            metrics=self.state.metrics,
            sweep_interval_s=60,
            dispatch_interval_s=1,
            repeat_interval_s=3600,
            batch_size=batch_size,
        )

    async def feed(self, *updates: MetricUpdated) -> list[str]:
        async with transaction(self.state.sessions) as session:
            keys = await record_updates(session, [metric_update_of(u) for u in updates])
            return await self.state.evaluator.evaluate(session, keys)

    async def sweep(self) -> list[str]:
        changes: list[str] = []
        async with transaction(self.state.sessions) as session:
            keys = sorted(await self.state.evaluator.sweep_keys(session))
        for i in range(0, len(keys), SWEEP_SLICE):  # as the sweep loop does
            async with transaction(self.state.sessions) as session:
                changes += await self.state.evaluator.evaluate(session, keys[i : i + SWEEP_SLICE])
        async with transaction(self.state.sessions) as session:
            await queue_repeats(session, self.clock(), self.settings.repeat_interval_s)
        return changes

    async def deliver(self) -> int:
        """Group what is ripe and send what is due, once."""
        await self.dispatcher.group()
        sent = 0
        while n := await self.dispatcher.dispatch():
            sent += n
        async with self.state.sessions() as session:
            await self.state.metrics.refresh(session)
        return sent

    async def rows(self, query: Any) -> list[dict[str, Any]]:
        async with self.state.sessions() as session:
            return [dict(r) for r in (await session.execute(query)).mappings().all()]


@asynccontextmanager
async def alerts_harness(database_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    values: dict[str, Any] = {
        "database_url": database_url,
        "run_workers": False,
        "group_wait_s": 0.0,
        "webhook_allow_networks": ["127.0.0.0/8"],
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.2,
        "log_level": "WARNING",
    }
    values.update(overrides)
    settings = AlertsSettings(**values)
    clock = MutableClock()
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://alerts",
            headers={"X-IOC-Actor": "operator@test"},
        ) as client:
            yield Harness(app, client, clock, settings)


@asynccontextmanager
async def targeted_harness(database_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    """``alerts_harness`` with no seeded targets but ``district_target`` (Tuyên Quang's
    districts, from today): the setup most alerts tests start from."""
    async with alerts_harness(database_url, seed_targets=False, **overrides) as h:
        response = await h.client.post("/v1/targets", json=district_target(h.clock().date()))
        assert response.status_code == 201, response.text
        yield h
