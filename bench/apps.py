"""Baseline apps on the services' own server stack (uvicorn, uvloop, Starlette):

* ``create_minimal_app`` — a minimal Starlette JSON endpoint (the single-event baseline, and
  the RSS of an idle Python web process);
* ``create_passthrough_app`` — ``POST /v1/events:batch`` that only splits the JSON list and
  publishes each item's bytes with ingest's own publisher, configured as ingest configures it
  (``KafkaPublisher``s with acks=all, idempotent, ingest's linger, in ingest's
  ``PooledPublisher``): ingest's batch endpoint minus validation, scope checks and the seen-id
  store.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ioc_common.events import Family
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.topics import telemetry_topic
from ioc_ingest.config import IngestSettings
from ioc_ingest.publishing import PooledPublisher


async def _ok(_: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def create_minimal_app() -> Starlette:
    async def accept(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"status": "accepted", "event_id": body.get("event_id")}, 202)

    return Starlette(
        routes=[
            Route("/v1/events", accept, methods=["POST"]),
            Route("/healthz", _ok),
            Route("/readyz", _ok),
        ]
    )


def create_passthrough_app() -> Starlette:
    settings = IngestSettings()
    publisher = PooledPublisher(
        lambda: KafkaPublisher(
            os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            idempotence=settings.kafka_idempotence,
            linger_ms=settings.kafka_linger_ms,
        ),
        settings.kafka_producers,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await publisher.start()
        yield
        await publisher.stop()

    async def batch(request: Request) -> Response:
        items = orjson.loads(await request.body())["events"]
        records = [
            OutgoingRecord(
                telemetry_topic(Family(item["family"])), orjson.dumps(item), item["unit_code"]
            )
            for item in items
        ]
        await publisher.publish_many(records)
        return Response(
            orjson.dumps({"accepted": len(records)}), 202, media_type="application/json"
        )

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/v1/events:batch", batch, methods=["POST"]),
            Route("/healthz", _ok),
            Route("/readyz", _ok),
        ],
    )
