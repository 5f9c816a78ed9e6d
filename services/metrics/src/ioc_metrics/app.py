"""The metrics service: the consumer loop and the query API in one process.

``uvicorn --factory ioc_metrics.app:create_app`` serves the API and, in the background, consumes
every telemetry topic in the consumer group ``IOC_METRICS_GROUP_ID`` (default ``ioc-metrics``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine, database_ready
from ioc_common.kafka.consumer import KafkaConsumer
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.logs import configure_logging, get_logger
from ioc_common.observability import new_registry
from ioc_common.reference.units import unit_tree
from ioc_common.web import install_service_basics
from ioc_metrics.api.routes import freshness, indicators, rankings, scorecard, values
from ioc_metrics.config import MetricsSettings
from ioc_metrics.facts import part_of
from ioc_metrics.instruments import Instruments
from ioc_metrics.processor import BatchProcessor
from ioc_metrics.runner import ConsumerLoop

log = get_logger("ioc.metrics")

DESCRIPTION = (
    "Tổng hợp chính xác các chỉ tiêu chuyển đổi số theo xã, huyện, tỉnh. / Exact aggregation "
    "of the digital-transformation indicators per commune, district and province."
)


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    configure_logging(settings.log_level)
    registry = new_registry()
    instruments = Instruments(registry)
    catalogue = load_catalogue()
    for indicator in catalogue.indicators:
        part_of(indicator)  # refuses a ratio mixing a flow and a stock at start-up

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        loop: ConsumerLoop | None = None
        if settings.consumer_enabled:
            publisher = KafkaPublisher(
                settings.kafka_bootstrap_servers,
                idempotence=settings.kafka_idempotence,
                client_id="ioc-metrics",
            )
            processor = BatchProcessor(
                engine,
                publisher,
                group_id=settings.group_id,
                catalogue=catalogue,
                tree=unit_tree(),
                instruments=instruments,
            )
            consumer = KafkaConsumer(
                settings.kafka_bootstrap_servers,
                settings.topics,
                group_id=settings.group_id,
                client_id="ioc-metrics",
                on_assign=processor.stored_offsets,
            )
            loop = ConsumerLoop(consumer, publisher, processor, settings, instruments)
            loop.start()
        app.state.consumer_loop = loop
        log.info("metrics.started", group_id=settings.group_id, consumer=loop is not None)
        try:
            yield
        finally:
            if loop is not None:
                await loop.stop()
            await engine.dispose()
            log.info("metrics.stopped")

    app = FastAPI(title="IOC metrics", description=DESCRIPTION, version="1", lifespan=lifespan)

    async def readiness() -> dict[str, bool]:
        checks = {"database": await database_ready(app.state.engine)}
        loop = app.state.consumer_loop
        if loop is not None:
            checks["consumer"] = loop.running
        return checks

    install_service_basics(app, service="metrics", registry=registry, readiness=readiness)
    for module in (indicators, values, rankings, scorecard, freshness):
        app.include_router(module.router)
    return app
