"""An event is (provider, event_id), against the real broker and database.

- another department's id is no duplicate of ours: a district-070 key sending its own event
  under an id a district-071 key used before is accepted and published;
- the same provider re-sending the same id with the same content is a duplicate (200);
- the same provider re-sending the id with other content is a conflict (409), never a silent
  drop: a correction needs a new id and a higher revision;
- ids derived from an Idempotency-Key are per provider, so one department cannot pre-empt
  another's derived ids.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ioc_common.db import create_engine, session_factory
from ioc_common.events import Family
from ioc_ingest.app import create_app
from ioc_ingest.keys import PgKeyStore
from ioc_ingest.testing import FIXED_NOW, running, settings_for_tests
from services.ingest.tests.test_ingest_kafka_roundtrip import bts, read_back

pytestmark = pytest.mark.connected


@dataclass
class TwoDistricts:
    client: httpx.AsyncClient
    bootstrap: str
    #: API key per district: each is its own provider.
    keys: dict[str, str]

    def headers(self, unit: str, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[unit], **extra}


@pytest.fixture
async def districts(kafka_bootstrap: str, database_url: str) -> AsyncIterator[TwoDistricts]:
    engine = create_engine(database_url)
    store = PgKeyStore(session_factory(engine))
    keys: dict[str, str] = {}
    run = uuid.uuid4().hex[:6]
    for unit in ("070", "071"):
        _, keys[unit] = await store.create(
            provider=f"huyen-{unit}-{run}",
            families=[f.value for f in Family],
            units=[unit],
            actor="test",
        )
    await engine.dispose()
    settings = settings_for_tests(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url
    )
    async with running(create_app(settings, now=lambda: FIXED_NOW)) as client:
        yield TwoDistricts(client, kafka_bootstrap, keys)


async def test_another_departments_id_is_accepted_and_published(districts: TwoDistricts) -> None:
    shared_id = str(uuid.uuid4())
    theirs = await districts.client.post(
        "/v1/events", json=bts("071", event_id=shared_id), headers=districts.headers("071")
    )
    assert theirs.status_code == 202
    ours = await districts.client.post(
        "/v1/events", json=bts("070", event_id=shared_id), headers=districts.headers("070")
    )
    assert ours.status_code == 202, ours.text
    assert ours.json()["status"] == "accepted"

    records = await read_back(districts.bootstrap, [shared_id])
    assert sorted(str(r.key) for r in records) == ["070", "071"]


async def test_same_id_same_content_is_a_duplicate(districts: TwoDistricts) -> None:
    event = bts("071")
    first = await districts.client.post("/v1/events", json=event, headers=districts.headers("071"))
    again = await districts.client.post("/v1/events", json=event, headers=districts.headers("071"))
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"status": "duplicate", "event_id": event["event_id"]}


async def test_same_id_other_content_is_a_conflict_not_a_silent_drop(
    districts: TwoDistricts,
) -> None:
    event = bts("071")
    await districts.client.post("/v1/events", json=event, headers=districts.headers("071"))
    sites = event["payload"]["sites"]
    corrected: dict[str, Any] = {**event, "payload": {**event["payload"], "sites": sites + 1}}

    single = await districts.client.post(
        "/v1/events", json=corrected, headers=districts.headers("071")
    )
    assert single.status_code == 409
    body = single.json()["error"]
    assert body["code"] == "conflict"
    assert [d["field"] for d in body["details"]] == ["event_id"]
    assert "revision" in body["message_en"]
    assert "revision" in body["message"]

    batch = await districts.client.post(
        "/v1/events:batch", json={"events": [corrected]}, headers=districts.headers("071")
    )
    assert batch.status_code == 200
    [item] = batch.json()["results"]
    assert (item["status"], item["code"]) == ("rejected", "conflict")

    # The documented way to correct: a new id and a higher revision.
    fixed = {**corrected, "event_id": str(uuid.uuid4()), "revision": 2}
    ok = await districts.client.post("/v1/events", json=fixed, headers=districts.headers("071"))
    assert ok.status_code == 202
    [record] = await read_back(districts.bootstrap, [event["event_id"]])
    # The conflicting copy was never published: the one record says the first figure.
    assert f'"sites":{sites},'.encode() in record.value


async def test_derived_ids_are_per_provider(districts: TwoDistricts) -> None:
    """The same Idempotency-Key from two departments: two events, both accepted."""
    idem = f"bao-cao-thang-5-{uuid.uuid4().hex[:8]}"
    answers = []
    for unit in ("071", "070"):
        event = bts(unit)
        del event["event_id"]
        answers.append(
            await districts.client.post(
                "/v1/events",
                json=event,
                headers=districts.headers(unit, **{"Idempotency-Key": idem}),
            )
        )
    assert [a.status_code for a in answers] == [202, 202]
