"""A broker that does not acknowledge means 503 with Retry-After, and nothing marked as seen."""

from __future__ import annotations

from typing import Any

from ioc_ingest.testing import Harness

TOPIC = "ioc.telemetry.bts.v1"


async def test_broker_down_gives_503_and_a_retry_later_is_accepted(
    harness: Harness, make_bts: Any
) -> None:
    sent = make_bts()
    harness.broker.available = False
    r = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "broker_unavailable"
    assert int(r.headers["Retry-After"]) >= 1
    batch = await harness.client.post(
        "/v1/events:batch", json={"events": [make_bts(), sent]}, headers=harness.headers()
    )
    assert batch.status_code == 503
    assert harness.seen.rows == {}
    assert harness.metric("ioc_ingest_publish_failures_total") == 2
    ready = await harness.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"broker": False, "database": True}

    harness.broker.available = True
    r = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert r.status_code == 202  # not "duplicate": it was never handed over
    assert len(harness.broker.records(TOPIC)) == 1


async def test_database_down_before_publishing_gives_503_and_publishes_nothing(
    harness: Harness, make_bts: Any
) -> None:
    harness.seen.available = False
    r = await harness.client.post("/v1/events", json=make_bts(), headers=harness.headers())
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "database_unavailable"
    assert harness.broker.records(TOPIC) == []


async def test_key_store_down_gives_503_not_401(harness: Harness, make_bts: Any) -> None:
    harness.keys.available = False
    r = await harness.client.post("/v1/events", json=make_bts(), headers=harness.headers())
    assert r.status_code == 503
    assert "Retry-After" in r.headers
