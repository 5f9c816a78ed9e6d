"""The ingest service's FastAPI app: ``uvicorn --factory ioc_ingest.app:create_app``.

Nothing connects at import or in ``create_app``; the lifespan opens the database pool and the
Kafka producer and closes them. Tests inject fakes (``InMemoryPublisher``, in-memory stores) or
real ones through the keyword arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CollectorRegistry
from pydantic import TypeAdapter

from ioc_common.audit import AuditOriginMiddleware
from ioc_common.catalogue import load_catalogue
from ioc_common.collector import tune_for_batches
from ioc_common.db import create_engine, session_factory
from ioc_common.errors import BrokerUnavailable
from ioc_common.kafka import client_security
from ioc_common.kafka.backoff import Backoff
from ioc_common.kafka.publisher import KafkaPublisher, Publisher
from ioc_common.logs import get_logger
from ioc_common.observability import new_registry
from ioc_common.reference.units import unit_tree
from ioc_common.timeutil import utc_now
from ioc_common.web import install_service_basics, prepare_service
from ioc_ingest.api.routes import events, families, uploads
from ioc_ingest.config import IngestSettings
from ioc_ingest.ingestor import Ingestor
from ioc_ingest.keys import Authenticator, KeyStore, PgKeyStore
from ioc_ingest.limits import BodyLimitMiddleware
from ioc_ingest.metrics import IngestMetrics
from ioc_ingest.publishing import PooledPublisher
from ioc_ingest.ratelimit import RateLimiter
from ioc_ingest.schemas import BatchRequest, Submission
from ioc_ingest.seen import PgSeenStore, SeenStore, keep_seen_window
from ioc_ingest.state import IngestState
from ioc_ingest.validation import EventValidator

log = get_logger("ioc.ingest")

_DESCRIPTION = """
Nhận số liệu từ các sở, ngành và huyện, xã qua REST và chuyển lên Kafka; trả 202 chỉ sau khi
Kafka đã xác nhận. Mỗi lần ghi cần một khóa API (`Authorization: Bearer …` hoặc `X-API-Key`).

Receives figures from departments and districts over REST and hands them to Kafka; answers
202 only after the broker acknowledged them. Every write needs an API key
(`Authorization: Bearer …` or `X-API-Key`). Errors share one JSON shape:
`{"error": {"code", "message", "message_en", "details": [{"field", "reason"}]}}`.
"""


async def _keep_starting(publisher: Publisher, backoff: Backoff | None = None) -> None:
    """Retry connecting until the broker answers; until then writes get 503."""
    backoff = backoff or Backoff(base_s=1.0, cap_s=10.0)
    while True:
        await backoff.wait()
        try:
            await publisher.start()
        except BrokerUnavailable as exc:
            log.warning("ingest.broker_unreachable", error=exc.message_en)
            continue
        log.info("ingest.broker_connected")
        return


def create_app(
    settings: IngestSettings | None = None,
    *,
    publisher: Publisher | None = None,
    key_store: KeyStore | None = None,
    seen_store: SeenStore | None = None,
    registry: CollectorRegistry | None = None,
    now: Callable[[], datetime] = utc_now,
) -> FastAPI:
    settings = settings or IngestSettings()
    prepare_service(settings)
    registry = registry if registry is not None else new_registry()
    metrics = IngestMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        keys: KeyStore | None = key_store
        seen: SeenStore | None = seen_store
        pg_seen: PgSeenStore | None = None
        if keys is None:
            engine = create_engine(settings.database_url)
            keys = PgKeyStore(session_factory(engine))
        if seen is None:
            seen = pg_seen = PgSeenStore(
                settings.database_url,
                pool_size=settings.seen_pool_size,
                timeout_s=settings.database_timeout_seconds,
            )
            await pg_seen.start()
        pub = publisher or PooledPublisher(
            lambda: KafkaPublisher(
                settings.kafka_bootstrap_servers,
                idempotence=settings.kafka_idempotence,
                client_id="ioc-ingest",
                request_timeout_ms=settings.kafka_request_timeout_ms,
                delivery_timeout_s=settings.publish_timeout_seconds,
                linger_ms=settings.kafka_linger_ms,
                security=client_security(settings),
            ),
            settings.kafka_producers,
        )
        # Load the reference data now rather than on the first request.
        tree, catalogue = unit_tree(), load_catalogue()
        validator = EventValidator(
            future_skew=timedelta(seconds=settings.future_skew_seconds),
            backfill_after=timedelta(days=settings.backfill_after_days),
            catalogue=catalogue,
            tree=tree,
            now=now,
        )
        app.state.ingest = IngestState(
            settings=settings,
            publisher=pub,
            keys=keys,
            seen=seen,
            auth=Authenticator(keys, settings.key_cache_ttl_seconds),
            limiter=RateLimiter(settings.rate_per_second, settings.rate_burst),
            metrics=metrics,
            ingestor=Ingestor(
                validator=validator,
                publisher=pub,
                seen=seen,
                metrics=metrics,
                retry_after_s=settings.retry_after_seconds,
            ),
        )
        starter: asyncio.Task[None] | None = None
        window_keeper = None
        if pg_seen is not None:
            window_keeper = asyncio.create_task(
                keep_seen_window(pg_seen, settings.dedup_window_days)
            )
        try:
            await pub.start()
        except BrokerUnavailable as exc:
            # Start anyway: /readyz says not ready and writes answer 503 until it connects.
            log.warning("ingest.broker_unreachable", error=exc.message_en)
            starter = asyncio.create_task(_keep_starting(pub))
        tune_for_batches()  # a 2,000-event request is a batch: ioc_common.collector
        log.info("ingest.started", bootstrap=settings.kafka_bootstrap_servers)
        try:
            yield
        finally:
            for task in (starter, window_keeper):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await pub.stop()
            await app.state.ingest.ingestor.flush()  # the ids recorded behind their answers
            if pg_seen is not None:
                await pg_seen.close()
            if engine is not None:
                await engine.dispose()
            log.info("ingest.stopped")

    app = FastAPI(
        title="IOC ingest — nhận số liệu / data intake",
        version="1.0.0",
        description=_DESCRIPTION,
        lifespan=lifespan,
    )

    def body_limit(path: str) -> int:
        return (
            settings.max_upload_bytes
            if path.startswith("/v1/uploads")
            else (settings.max_body_bytes)
        )

    # Added before the basics so the HTTP metrics middleware (outermost) also counts 413s.
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)

    async def readiness() -> dict[str, bool]:
        state: IngestState | None = getattr(app.state, "ingest", None)
        if state is None:
            return {"broker": False, "database": False}
        broker, database = await asyncio.gather(state.publisher.is_ready(), state.keys.is_ready())
        return {"broker": broker, "database": database}

    install_service_basics(app, service="ingest", registry=registry, readiness=readiness)
    app.add_middleware(AuditOriginMiddleware)  # audit rows say where an action came from
    app.include_router(events.router)
    app.include_router(uploads.router)
    app.include_router(families.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the request bodies the write endpoints read themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    ref = "#/components/schemas/{model}"
    for name, body in (
        ("Submission", TypeAdapter(Submission).json_schema(ref_template=ref)),
        ("BatchRequest", BatchRequest.model_json_schema(ref_template=ref)),
    ):
        components.update(body.pop("$defs", {}))
        components[name] = body
    app.openapi_schema = schema
    return schema
