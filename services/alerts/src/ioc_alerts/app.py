"""The alerts service's FastAPI app. The lifespan opens the database and Kafka connections,
seeds the provinces' targets, and runs the consumer, sweep, dispatcher and event-publisher
loops as background tasks; it stops them cleanly on shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry

from ioc_alerts.api.deps import check_service_token
from ioc_alerts.api.routes import (
    alerts,
    assessments,
    deliveries,
    recipients,
    silences,
    targets,
)
from ioc_alerts.channels import Channel
from ioc_alerts.channels.email import EmailChannel
from ioc_alerts.channels.webhook import WebhookChannel
from ioc_alerts.channels.zalo import ZaloChannel
from ioc_alerts.config import AlertsSettings
from ioc_alerts.dispatcher import Dispatcher
from ioc_alerts.evaluator import Clock, Evaluator
from ioc_alerts.observability import AlertsMetrics
from ioc_alerts.ssrf import parse_networks
from ioc_alerts.state import AlertsState
from ioc_alerts.targets_store import seed_targets
from ioc_alerts.workers import Workers
from ioc_common.db import create_engine, database_ready, session_factory
from ioc_common.kafka import client_security
from ioc_common.kafka.consumer import Consumer, KafkaConsumer
from ioc_common.kafka.lag import LagMonitor
from ioc_common.kafka.publisher import KafkaPublisher, Publisher
from ioc_common.logs import get_logger
from ioc_common.nul_guard import RejectNulMiddleware
from ioc_common.observability import new_registry
from ioc_common.timeutil import utc_now
from ioc_common.web import install_service_basics, prepare_service

log = get_logger("ioc.alerts")

DESCRIPTION = """
Chỉ tiêu, cảnh báo và thông báo (email, Zalo, webhook) của IOC.
Targets, alerts and notifications (email, Zalo, webhooks) of the IOC.

API nội bộ, đứng sau cổng (gateway): cổng xác thực người dùng và đặt `X-IOC-Actor`.
Internal API behind the gateway, which authenticates operators and sets `X-IOC-Actor`.
"""


def create_app(
    settings: AlertsSettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
    publisher: Publisher | None = None,
    consumer: Consumer | None = None,
) -> FastAPI:
    """``publisher``/``consumer`` replace the Kafka ones (tests pass in-memory fakes)."""
    settings = settings or AlertsSettings()
    prepare_service(settings)
    registry = registry or new_registry()
    clock = clock or utc_now
    metrics = AlertsMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        evaluator = Evaluator(
            hysteresis_ratio=settings.hysteresis_ratio, clock=clock, demo_day_s=settings.demo_day_s
        )
        allowed = parse_networks(settings.webhook_allow_networks)
        http = httpx.AsyncClient(follow_redirects=False)
        channels: dict[str, Channel] = {
            "email": EmailChannel(settings),
            "webhook": WebhookChannel(http, allowed, settings.send_timeout_s),
            "zalo": ZaloChannel(settings, http, sessions),
        }
        state = app.state.alerts = AlertsState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            metrics=metrics,
            evaluator=evaluator,
            clock=clock,
            allowed_networks=allowed,
            dispatcher=Dispatcher(settings, sessions, channels, metrics, clock),
        )
        workers: Workers | None = None
        pub: Publisher | None = None
        con: Consumer | None = None
        lag: LagMonitor | None = None
        try:
            if settings.seed_targets:
                seeded = await seed_targets(sessions, clock())
                log.info("alerts.targets_seeded", inserted=seeded)
            if settings.run_workers:
                # Built only here: an aiokafka client never started complains when collected.
                pub = publisher or KafkaPublisher(
                    settings.kafka_bootstrap_servers,
                    idempotence=settings.kafka_idempotence,
                    client_id="ioc-alerts",
                    security=client_security(settings),
                )
                con = consumer or KafkaConsumer(
                    settings.kafka_bootstrap_servers,
                    [settings.metrics_topic],
                    group_id=settings.group_id,
                    client_id="ioc-alerts",
                    security=client_security(settings),
                )
                state.publisher = pub
                # Built before the consumer starts: it seeks to the offsets stored in
                # alerts_offsets whenever partitions are assigned.
                workers = Workers(
                    sessions=sessions,
                    consumer=con,
                    publisher=pub,
                    evaluator=evaluator,
                    dispatcher=state.dispatcher,
                    metrics=metrics,
                    sweep_interval_s=settings.sweep_interval_s,
                    dispatch_interval_s=settings.dispatch_interval_s,
                    repeat_interval_s=settings.repeat_interval_s,
                    batch_size=settings.consume_batch,
                    group_id=settings.group_id,
                )
                await pub.start()
                await con.start()
                workers.start()
                if isinstance(con, KafkaConsumer):  # lag from the broker, on a timer
                    lag = LagMonitor(con, metrics.consumer_lag, con.committed)
                    lag.start()
            state.workers = workers
            log.info("alerts.started", workers=settings.run_workers)
            yield
        finally:
            if lag is not None:
                await lag.stop()
            if workers is not None:
                await workers.stop()
            if con is not None:
                await con.stop()
            if pub is not None:
                await pub.stop()
            await http.aclose()
            await engine.dispose()
            log.info("alerts.stopped")

    app = FastAPI(
        title="IOC alerts",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )

    async def readiness() -> dict[str, bool]:
        state: AlertsState | None = getattr(app.state, "alerts", None)
        if state is None:
            return {"database": False}
        checks = {"database": await database_ready(state.engine)}
        if settings.run_workers:
            pub = state.publisher
            checks["kafka"] = bool(pub is not None and await pub.is_ready())
        return checks

    # Text goes to PostgreSQL, which cannot store NUL: a 422 at the door, not a 500. Added
    # before the basics so the HTTP metrics (outermost) count these 422s too.
    app.add_middleware(RejectNulMiddleware)
    install_service_basics(app, service="alerts", registry=registry, readiness=readiness)
    for module in (alerts, silences, targets, recipients, deliveries, assessments):
        app.include_router(module.router, dependencies=[Depends(check_service_token)])
    return app
