"""A stopped or unreachable broker gets 503 with Retry-After, never a 2xx, and nothing is
recorded as seen; once the broker is back, the same event is accepted."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

import pytest

from ioc_common.db import create_engine, session_factory
from ioc_common.events import Family
from ioc_common.infra.kafka_local import LocalKafka
from ioc_common.infra.process import free_port
from ioc_common.kafka.admin import wait_for_broker
from ioc_common.testing import bts_event
from ioc_ingest.app import create_app
from ioc_ingest.keys import PgKeyStore
from ioc_ingest.seen import PgSeenStore
from ioc_ingest.testing import FIXED_NOW, running, settings_for_tests

pytestmark = pytest.mark.connected


async def new_key(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        _, raw = await PgKeyStore(session_factory(engine)).create(
            provider="so-tttt-tq", families=[f.value for f in Family], units=["08"], actor="t"
        )
    finally:
        await engine.dispose()
    return raw


async def was_seen(database_url: str, event_id: str) -> bool:
    store = PgSeenStore(database_url)
    await store.start()
    try:
        found = await store.seen("so-tttt-tq", [uuid.UUID(event_id)])
    finally:
        await store.close()
    return bool(found)


bts = partial(bts_event, "074")


async def test_ingest_pointed_at_a_dead_broker_answers_503(database_url: str) -> None:
    key = await new_key(database_url)
    settings = settings_for_tests(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        database_url=database_url,
        kafka_idempotence="off",
        kafka_request_timeout_ms=1000,
        publish_timeout_seconds=2,
    )
    async with running(create_app(settings, now=lambda: FIXED_NOW)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        sent = bts()
        for path, body in (("/v1/events", sent), ("/v1/events:batch", {"events": [sent]})):
            r = await client.post(path, json=body, headers=headers)
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "broker_unavailable"
            assert int(r.headers["Retry-After"]) >= 1
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["broker"] is False
    assert not await was_seen(database_url, sent["event_id"])


async def test_stopping_the_broker_gives_503s_never_202s(
    kafka_broker: LocalKafka | None, kafka_bootstrap: str, database_url: str
) -> None:
    if kafka_broker is None:
        pytest.skip("needs the local broker process to stop (IOC_TEST_INFRA=local)")
    key = await new_key(database_url)
    settings = settings_for_tests(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=database_url,
        kafka_request_timeout_ms=1000,
        publish_timeout_seconds=3,
    )
    headers = {"Authorization": f"Bearer {key}"}
    async with running(create_app(settings, now=lambda: FIXED_NOW)) as client:
        assert (await client.post("/v1/events", json=bts(), headers=headers)).status_code == 202
        during = [bts() for _ in range(3)]
        try:
            kafka_broker.stop()
            statuses = [
                (await client.post("/v1/events", json=e, headers=headers)).status_code
                for e in during
            ]
            batch = await client.post("/v1/events:batch", json={"events": during}, headers=headers)
            statuses.append(batch.status_code)
        finally:
            kafka_broker.start()
            await wait_for_broker(kafka_bootstrap)
        assert statuses == [503, 503, 503, 503]
        for e in during:
            assert not await was_seen(database_url, e["event_id"])

        # Back up: the client's retry of the same event is accepted (not "duplicate").
        retry = during[0]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        status = 0
        while loop.time() < deadline:
            status = (await client.post("/v1/events", json=retry, headers=headers)).status_code
            assert status in (202, 503)
            if status == 202:
                break
            await asyncio.sleep(1)
        assert status == 202
        assert await was_seen(database_url, retry["event_id"])
