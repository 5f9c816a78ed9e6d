"""Against the real broker and database: what a client posts is exactly what a consumer reads
back (single, batch, CSV), keyed by district; duplicates are flagged and published once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from functools import partial

import httpx
import pydantic
import pytest
import sqlalchemy as sa

from ioc_common.db import create_engine, session_factory
from ioc_common.events import BtsEvent, Family, decode_telemetry
from ioc_common.kafka.consumer import KafkaConsumer
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.testing import bts_event
from ioc_common.topics import TELEMETRY_TOPICS
from ioc_ingest.app import create_app
from ioc_ingest.keys import PgKeyStore
from ioc_ingest.tables import seen_events
from ioc_ingest.testing import FIXED_NOW, running, settings_for_tests

pytestmark = pytest.mark.connected


@dataclass
class Live:
    client: httpx.AsyncClient
    key: str
    provider: str
    bootstrap: str
    database_url: str

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@pytest.fixture
async def live(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Live]:
    engine = create_engine(database_url)
    provider = f"so-tttt-{uuid.uuid4().hex[:6]}"
    _, raw = await PgKeyStore(session_factory(engine)).create(
        provider=provider, families=[f.value for f in Family], units=["08"], actor="test"
    )
    await engine.dispose()
    settings = settings_for_tests(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url
    )
    async with running(create_app(settings, now=lambda: FIXED_NOW)) as client:
        yield Live(client, raw, provider, kafka_bootstrap, database_url)


def _event_id(record: ConsumedRecord) -> str | None:
    try:
        return str(decode_telemetry(record.value).event_id)
    except pydantic.ValidationError:
        return None  # another suite's poison


async def read_back(
    bootstrap: str, event_ids: Iterable[str], *, settle_s: float = 1.0, timeout_s: float = 30
) -> list[ConsumedRecord]:
    """The records carrying these event ids, read until all arrived and then ``settle_s`` more
    (so an extra copy would be seen). The topics are the session broker's: other suites'
    records on them (poison included) are passed over."""
    wanted = set(event_ids)
    consumer = KafkaConsumer(bootstrap, TELEMETRY_TOPICS, group_id=f"t-{uuid.uuid4().hex}")
    await consumer.start()
    found: list[ConsumedRecord] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while loop.time() < deadline:
            for rec in await consumer.getmany(timeout_ms=500, max_records=5000):
                if _event_id(rec) in wanted:
                    found.append(rec)
            if {str(decode_telemetry(r.value).event_id) for r in found} == wanted:
                deadline = min(deadline, loop.time() + settle_s)
    finally:
        await consumer.stop()
    return found


#: A total of 30 villages: the batch test's 31 covered ones are too many.
bts = partial(bts_event, villages_total=30, villages_covered=29)


async def seen_rows(database_url: str, ids: Iterable[str]) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = sa.select(sa.func.count()).where(
                seen_events.c.event_id.in_([uuid.UUID(i) for i in ids])
            )
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def test_single_event_round_trips_exactly_keyed_by_district(live: Live) -> None:
    sent = bts("02233", revision=2)
    r = await live.client.post("/v1/events", json=sent, headers=live.headers())
    assert r.status_code == 202, r.text
    [record] = await read_back(live.bootstrap, [sent["event_id"]])
    assert record.key == "071"
    assert (record.topic, record.partition, record.offset) == (
        r.json()["topic"],
        r.json()["partition"],
        r.json()["offset"],
    )
    event = decode_telemetry(record.value)
    assert isinstance(event, BtsEvent)
    assert event.payload.model_dump(mode="json") == sent["payload"]
    assert (event.unit_code, event.observed_at.isoformat(), event.revision) == (
        "02233",
        "2025-05-01",
        2,
    )
    assert event.source == live.provider
    assert await seen_rows(live.database_url, [sent["event_id"]]) == 1


async def test_duplicate_is_flagged_and_published_once(live: Live) -> None:
    sent = bts()
    first = await live.client.post("/v1/events", json=sent, headers=live.headers())
    again = await live.client.post("/v1/events", json=sent, headers=live.headers())
    in_batch = await live.client.post(
        "/v1/events:batch", json={"events": [sent]}, headers=live.headers()
    )
    assert (first.status_code, again.status_code, in_batch.status_code) == (202, 200, 200)
    assert again.json()["status"] == "duplicate"
    assert in_batch.json()["results"][0]["status"] == "duplicate"
    records = await read_back(live.bootstrap, [sent["event_id"]], settle_s=2)
    assert len(records) == 1


async def test_batch_publishes_only_good_items_and_reports_bad_ones(live: Live) -> None:
    good = [bts("070"), bts("072"), bts("02431"), bts("08")]
    bad_range = bts()
    bad_range["payload"]["villages_covered"] = 31
    bad_unit = bts("001")
    events = [good[0], bad_range, good[1], good[2], bad_unit, good[3]]
    r = await live.client.post("/v1/events:batch", json={"events": events}, headers=live.headers())
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (4, 2)
    rejected = {x["index"]: x["errors"][0]["field"] for x in body["results"] if x["errors"]}
    assert rejected == {1: "payload.villages_covered", 4: "unit_code"}
    records = await read_back(live.bootstrap, [e["event_id"] for e in events])
    by_id = {str(decode_telemetry(rec.value).event_id): rec.key for rec in records}
    assert by_id == {
        good[0]["event_id"]: "070",
        good[1]["event_id"]: "072",
        good[2]["event_id"]: "075",
        good[3]["event_id"]: "08",
    }
    assert await seen_rows(live.database_url, [e["event_id"] for e in events]) == 4


async def test_csv_upload_round_trips(live: Live) -> None:
    unit = "073"
    text = (
        "Mã đơn vị;Kỳ báo cáo;Kênh thanh toán;Số giao dịch;Giá trị (đồng);Mã sự kiện\r\n"
        f"{unit};2025-06-18;qr;18.240;5.230.000.000;{uuid.uuid4()}\r\n"
        f"{unit};2025-06-18;e_wallet;1.002;7.500.000,0;{uuid.uuid4()}\r\n"
    )
    r = await live.client.post(
        "/v1/uploads",
        params={"family": "cashless"},
        files={"file": ("export.csv", ("\ufeff" + text).encode(), "text/csv")},
        headers=live.headers(),
    )
    assert r.status_code == 202, r.text
    ids = [x["event_id"] for x in r.json()["results"]]
    records = await read_back(live.bootstrap, ids)
    got = sorted(
        ((rec.key, decode_telemetry(rec.value).payload.model_dump(mode="json")) for rec in records),
        key=lambda pair: str(pair[1]["channel"]),
    )
    assert got == [
        (unit, {"channel": "e_wallet", "transactions": 1002, "value_vnd": 7_500_000}),
        (unit, {"channel": "qr", "transactions": 18240, "value_vnd": 5_230_000_000}),
    ]


async def test_readiness_checks_the_real_broker_and_database(live: Live) -> None:
    r = await live.client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"broker": True, "database": True}
