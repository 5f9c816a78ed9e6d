"""What keeps a big request cheap: the seen ids are recorded behind the 202
(``ioc_ingest.ingestor``) — while that insert is in flight a resend is still a duplicate (or a
conflict), shutdown waits for it, its failure is counted and logged without changing the answer
given — and the collector is tuned for batches (``ioc_common.collector``)."""

from __future__ import annotations

import asyncio
import gc
import uuid
from typing import Any

import pytest

from ioc_common.collector import YOUNG_THRESHOLD
from ioc_ingest.ingestor import Ingestor
from ioc_ingest.testing import Harness, memory_harness

TOPIC = "ioc.telemetry.bts.v1"


def ingestor_of(harness: Harness) -> Ingestor:
    ingestor: Ingestor = harness.app.state.ingest.ingestor
    return ingestor


async def test_a_resend_while_its_record_is_in_flight_is_a_duplicate(
    harness: Harness, make_bts: Any
) -> None:
    sent = make_bts()
    harness.seen.hold = hold = asyncio.Event()  # the insert of the seen ids does not finish yet
    try:
        await resend_while_held(harness, sent)
    finally:
        hold.set()  # else the harness's shutdown would wait for the held insert
    await ingestor_of(harness).flush()
    assert set(harness.seen.rows) == {("so-tttt-tq", uuid.UUID(sent["event_id"]))}


async def resend_while_held(harness: Harness, sent: dict[str, Any]) -> None:
    first = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert first.status_code == 202
    assert harness.seen.rows == {}  # answered before the record was written
    again = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "event_id": sent["event_id"]}
    changed = {**sent, "payload": {**sent["payload"], "sites": sent["payload"]["sites"] + 1}}
    other = await harness.client.post("/v1/events", json=changed, headers=harness.headers())
    assert other.status_code == 409  # the same id for another figure: a conflict, as ever
    assert len(harness.broker.records(TOPIC)) == 1


async def test_an_id_two_racing_requests_published_stays_in_flight_until_both_are_recorded(
    harness: Harness, make_bts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests with one new id, both past the lookup before either published, both
    publish it (the consumers deduplicate). The first record to end — here it fails — must not
    take the id out of flight while the other's is still being written."""
    sent = make_bts()
    store = harness.seen
    real_seen, real_record = store.seen, store.record
    lookups: list[int] = []
    both_looked_up = asyncio.Event()
    gates: list[asyncio.Event] = []
    released = asyncio.Event()

    async def seen(provider: str, ids: Any) -> dict[uuid.UUID, bytes | None]:
        ids = list(ids)
        lookups.append(1)
        if len(lookups) == 2:
            both_looked_up.set()
        await both_looked_up.wait()
        return await real_seen(provider, ids)

    async def record(events: Any) -> None:
        if not released.is_set():
            gates.append(gate := asyncio.Event())  # each record waits for its own release
            await gate.wait()
        await real_record(events)

    monkeypatch.setattr(store, "seen", seen)
    monkeypatch.setattr(store, "record", record)
    try:
        post = harness.client.post
        answers = await asyncio.gather(
            post("/v1/events", json=sent, headers=harness.headers()),
            post("/v1/events", json=sent, headers=harness.headers()),
        )
        assert [a.status_code for a in answers] == [202, 202]
        assert len(gates) == 2
        store.available = False
        gates[0].set()
        for _ in range(200):  # the first record fails and ends
            if harness.metric("ioc_ingest_seen_record_failures_total") == 1:
                break
            await asyncio.sleep(0.01)
        assert harness.metric("ioc_ingest_seen_record_failures_total") == 1
        store.available = True
        again = await post("/v1/events", json=sent, headers=harness.headers())
        assert again.status_code == 200  # still in flight with the second request's record
        assert len(harness.broker.records(TOPIC)) == 2
        gates[1].set()
        await ingestor_of(harness).flush()
    finally:  # a failed check must not leave records held for the shutdown to wait on
        store.available = True
        released.set()
        for gate in gates:
            gate.set()
    assert set(store.rows) == {("so-tttt-tq", uuid.UUID(sent["event_id"]))}


async def test_shutdown_waits_for_the_records_behind_its_answers(make_bts: Any) -> None:
    sent = [make_bts() for _ in range(3)]
    async with memory_harness() as harness:
        harness.seen.hold = asyncio.Event()
        answer = await harness.client.post(
            "/v1/events:batch", json={"events": sent}, headers=harness.headers()
        )
        assert answer.status_code == 202
        assert harness.seen.rows == {}
        seen, hold = harness.seen, harness.seen.hold
        asyncio.get_running_loop().call_later(0.05, hold.set)
    # The lifespan's exit waited for the insert the hold kept back.
    assert {i for _, i in seen.rows} == {uuid.UUID(e["event_id"]) for e in sent}


async def test_a_record_that_fails_behind_the_answer_is_counted_and_forgotten(
    harness: Harness, make_bts: Any
) -> None:
    sent = make_bts()
    harness.seen.hold = asyncio.Event()
    first = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert first.status_code == 202
    harness.seen.available = False  # the database goes away before the insert
    harness.seen.hold.set()
    await ingestor_of(harness).flush()
    assert harness.seen.rows == {}
    assert harness.metric("ioc_ingest_seen_record_failures_total") == 1
    harness.seen.available = True
    # Forgotten, as the module says: a resend is published again (consumers deduplicate).
    again = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert again.status_code == 202
    assert len(harness.broker.records(TOPIC)) == 2


async def test_the_service_tunes_the_collector_for_its_batches() -> None:
    """A 2,000-event request is a batch: without the tuning every few such requests paid a
    full collection over the whole heap (the bench's CPU per event doubled on them)."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's defaults
    try:
        async with memory_harness():
            assert gc.get_threshold() == (YOUNG_THRESHOLD, 20, 10)
    finally:
        gc.set_threshold(*before)
