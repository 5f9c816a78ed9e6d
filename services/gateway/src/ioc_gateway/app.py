"""The gateway's FastAPI app. The lifespan opens the database, the HTTP clients for the
metrics and alerts services and the Kafka consumer of the live feed, and closes them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from ioc_common.audit import AuditOriginMiddleware
from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine, database_ready, session_factory
from ioc_common.kafka import client_security
from ioc_common.kafka.consumer import Consumer, KafkaConsumer, Partition
from ioc_common.logs import get_logger
from ioc_common.nul_guard import RejectNulMiddleware
from ioc_common.observability import new_registry
from ioc_common.web import install_service_basics, prepare_service
from ioc_gateway.api.routes import (
    alerts,
    assessments,
    auth,
    catalogue,
    dashboard,
    districts,
    freshness,
    geo,
    live,
    overview,
    reports,
    scorecard,
    series,
    silences,
    units,
    users,
)
from ioc_gateway.auth import Passwords, TokenSigner, UserStore
from ioc_gateway.config import GatewaySettings
from ioc_gateway.feed import FeedPublisher, feed_topics, group_id, run_feed
from ioc_gateway.hub import Hub
from ioc_gateway.login_throttle import LoginThrottle
from ioc_gateway.observability import GatewayMetrics
from ioc_gateway.security import SecurityHeadersMiddleware
from ioc_gateway.state import GatewayState
from ioc_gateway.status import Targets
from ioc_gateway.upstream import AlertsApi, MetricsApi

log = get_logger("ioc.gateway")

DESCRIPTION = """
Cổng cho cán bộ vận hành IOC: đăng nhập, API vận hành, luồng trực tiếp (WebSocket, SSE) và
bảng điều khiển tại `/dashboard`.
The IOC operators' gateway: login, the operator API, live feeds (WebSocket, SSE) and the
dashboard at `/dashboard`.
"""


def _bearer(token: SecretStr | None) -> dict[str, str]:
    """The header that proves the gateway to an internal service (``ioc_common.service_auth``)."""
    return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}


async def _dev_admin(user_store: UserStore, settings: GatewaySettings) -> None:
    """Under ``ioc dev``, an admin to log in with (printed once) when there is no user yet."""
    password = (
        settings.dev_admin_password.get_secret_value() if settings.dev_admin_password else None
    )
    if password is None and os.environ.get("IOC_DEV") != "1":
        return
    if await user_store.count() > 0:
        return
    chosen = password is not None
    password = password or secrets.token_urlsafe(12)
    await user_store.create(
        username="admin",
        role="admin",
        scope=settings.province,
        password=password,
        actor="ioc-dev",
    )
    if chosen:
        return  # whoever chose it shows it (``ioc dev`` prints it at every start)
    # Shown once on the developer's terminal, never logged.
    # ``ioc dev`` tells each service its own address.
    base = os.environ.get("IOC_GATEWAY_URL", f"http://{settings.host}:{settings.port}")
    print(
        f"Bảng điều khiển / dashboard: {base}/dashboard  đăng nhập / log in: admin / {password}",
        flush=True,
    )


async def _start_at_end(
    consumer: KafkaConsumer, parts: set[Partition], positioned: asyncio.Event
) -> dict[Partition, int]:
    """Pin each new partition to its current end. "latest" alone is resolved lazily, at the
    first fetch, so a message published just after the assignment could be skipped."""
    ends = await consumer.end_offsets(parts)
    positioned.set()
    return ends


def create_app(
    settings: GatewaySettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    consumer: Consumer | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``consumer`` replaces the Kafka one and ``transport`` the HTTP one to the metrics and
    alerts services (tests pass in-memory fakes)."""
    settings = settings or GatewaySettings()
    prepare_service(settings)
    registry = registry or new_registry()
    metrics = GatewayMetrics(registry)
    hub = Hub(
        metrics,
        queue_size=settings.client_queue_size,
        overflow_limit=settings.client_overflow_limit,
        telemetry_per_second=settings.telemetry_per_second,
        replay_size=settings.replay_size,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        timeout = httpx.Timeout(settings.upstream_timeout_s, connect=2.0)
        metrics_http = httpx.AsyncClient(
            base_url=settings.metrics_url,
            timeout=timeout,
            transport=transport,
            headers=_bearer(settings.metrics_service_token),
        )
        alerts_http = httpx.AsyncClient(
            base_url=settings.alerts_url,
            timeout=timeout,
            transport=transport,
            headers=_bearer(settings.alerts_service_token),
        )
        alerts_api = AlertsApi(alerts_http, metrics, settings.actor_key)
        secret = (
            settings.session_secret.get_secret_value().encode()
            if settings.session_secret
            else secrets.token_bytes(32)
        )
        user_store = UserStore(
            sessions, settings.user_cache_ttl_s, Passwords(settings.password_hash_concurrency)
        )
        catalogue_ = load_catalogue()
        positioned = asyncio.Event()
        state = app.state.gateway = GatewayState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            users=user_store,
            signer=TokenSigner(secret, settings.session_ttl_s),
            hub=hub,
            metrics=metrics,
            catalogue=catalogue_,
            metrics_api=MetricsApi(metrics_http, metrics),
            alerts_api=alerts_api,
            targets=Targets(alerts_api),
            login_throttle=LoginThrottle(
                settings.login_max_failures, settings.login_window_s, settings.login_lockout_s
            ),
            positioned=positioned,
        )
        con: Consumer | None = None
        feed: asyncio.Task[None] | None = None
        try:
            await _dev_admin(user_store, settings)
            if settings.feed_enabled:
                if consumer is None:
                    # Built only here: an aiokafka client never started complains when
                    # collected.
                    kafka = KafkaConsumer(
                        settings.kafka_bootstrap_servers,
                        feed_topics(settings.consume_telemetry),
                        group_id=group_id(settings.group_prefix),
                        client_id="ioc-gateway",
                        auto_offset_reset="latest",
                        on_assign=lambda parts: _start_at_end(kafka, parts, positioned),
                        security=client_security(settings),
                    )
                    con = kafka
                else:
                    con = consumer
                    positioned.set()
                await con.start()
                state.consumer = con
                publisher = FeedPublisher(hub, catalogue_, metrics)
                feed = asyncio.create_task(run_feed(con, publisher), name="gateway-feed")
            log.info("gateway.started", feed=settings.feed_enabled)
            yield
        finally:
            hub.close()
            if feed is not None:
                feed.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feed
            if con is not None:
                await con.stop()
            await metrics_http.aclose()
            await alerts_http.aclose()
            await engine.dispose()
            log.info("gateway.stopped")

    app = FastAPI(title="IOC gateway", version="1", description=DESCRIPTION, lifespan=lifespan)

    async def readiness() -> dict[str, bool]:
        state: GatewayState | None = getattr(app.state, "gateway", None)
        if state is None:
            return {"database": False}
        checks = {"database": await database_ready(state.engine)}
        if settings.feed_enabled:
            con = state.consumer
            # Ready once partitions are assigned and positioned: from then on nothing
            # published is missed.
            checks["kafka"] = bool(
                con is not None and con.assignment() and state.positioned.is_set()
            )
        return checks

    install_service_basics(app, service="gateway", registry=registry, readiness=readiness)
    app.add_middleware(AuditOriginMiddleware)  # audit rows say where an action came from
    # NUL in a body reached the audit log's JSONB as a 500 (the body injection sweep).
    app.add_middleware(RejectNulMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts_seconds=settings.hsts_seconds)
    for module in (
        auth,
        catalogue,
        overview,
        districts,
        series,
        scorecard,
        freshness,
        geo,
        alerts,
        assessments,
        silences,
        units,
        users,
        reports,
        live,
        dashboard,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    return app
