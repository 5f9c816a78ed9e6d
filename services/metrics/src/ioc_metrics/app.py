"""The metrics service: the consumer loop and the query API in one process.

``uvicorn --factory ioc_metrics.app:create_app`` serves the API and, in the background, consumes
every telemetry topic in the consumer group ``IOC_METRICS_GROUP_ID`` (default ``ioc-metrics``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine, database_ready
from ioc_common.kafka import client_security
from ioc_common.kafka.consumer import KafkaConsumer
from ioc_common.kafka.lag import LagMonitor
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.logs import get_logger
from ioc_common.observability import new_registry
from ioc_common.reference.units import unit_tree
from ioc_common.service_auth import require_service_token
from ioc_common.web import install_service_basics, prepare_service
from ioc_metrics.api.routes import freshness, indicators, rankings, scorecard, values
from ioc_metrics.config import MetricsSettings
from ioc_metrics.facts import part_of
from ioc_metrics.instruments import Instruments
from ioc_metrics.processor import BatchProcessor
from ioc_metrics.runner import ConsumerLoop
from ioc_metrics.state import MetricsState

log = get_logger("ioc.metrics")

DESCRIPTION = (
    "Tổng hợp chính xác các chỉ tiêu chuyển đổi số theo xã, huyện, tỉnh. / Exact aggregation "
    "of the digital-transformation indicators per commune, district and province."
)


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    prepare_service(settings)
    registry = new_registry()
    instruments = Instruments(registry)
    catalogue = load_catalogue()
    for indicator in catalogue.indicators:
        part_of(indicator)  # refuses a ratio mixing a flow and a stock at start-up

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        loop: ConsumerLoop | None = None
        lag: LagMonitor | None = None
        if settings.consumer_enabled:
            publisher = KafkaPublisher(
                settings.kafka_bootstrap_servers,
                idempotence=settings.kafka_idempotence,
                client_id="ioc-metrics",
                security=client_security(settings),
            )
            processor = BatchProcessor(
                engine,
                publisher,
                group_id=settings.group_id,
                catalogue=catalogue,
                tree=unit_tree(),
                instruments=instruments,
                dedup_window_days=settings.dedup_window_days,
            )
            consumer = KafkaConsumer(
                settings.kafka_bootstrap_servers,
                settings.topics,
                group_id=settings.group_id,
                client_id="ioc-metrics",
                security=client_security(settings),
            )
            loop = ConsumerLoop(consumer, publisher, processor, settings, instruments)
            loop.start()
            # Lag from the broker on a timer, also while batches fail (the group's offsets).
            lag = LagMonitor(consumer, instruments.lag, consumer.committed)
            lag.start()
        app.state.metrics = MetricsState(settings=settings, engine=engine, consumer_loop=loop)
        log.info("metrics.started", group_id=settings.group_id, consumer=loop is not None)
        try:
            yield
        finally:
            if lag is not None:
                await lag.stop()
            if loop is not None:
                await loop.stop()
            await engine.dispose()
            log.info("metrics.stopped")

    app = FastAPI(title="IOC metrics", description=DESCRIPTION, version="1", lifespan=lifespan)

    async def readiness() -> dict[str, bool]:
        state: MetricsState | None = getattr(app.state, "metrics", None)
        if state is None:
            return {"database": False}
        checks = {"database": await database_ready(state.engine)}
        if state.consumer_loop is not None:
            checks["consumer"] = state.consumer_loop.running
        return checks

    # Internal API: only the platform's services (the gateway) with the service token.
    token_check = require_service_token(lambda _: settings.service_token)

    install_service_basics(app, service="metrics", registry=registry, readiness=readiness)
    for module in (indicators, values, rankings, scorecard, freshness):
        app.include_router(module.router, dependencies=[Depends(token_check)])
    return app
