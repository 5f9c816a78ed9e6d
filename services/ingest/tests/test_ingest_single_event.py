"""POST /v1/events on the in-memory broker: what is accepted, refused, and why."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from ioc_common.events import BtsEvent, decode_telemetry
from ioc_common.testing import bts_event
from ioc_common.timeutil import Granularity
from ioc_ingest.testing import Harness, memory_harness
from ioc_ingest.validation import derive_event_id

TOPIC = "ioc.telemetry.bts.v1"


def errors(body: dict[str, Any]) -> dict[str, str]:
    return {d["field"]: d["reason"] for d in body["error"]["details"]}


async def test_accepted_event_is_on_its_family_topic_keyed_by_district(
    harness: Harness, make_bts: Any
) -> None:
    sent = make_bts("02233")  # a commune of district 071 (Lâm Bình)
    r = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "accepted"
    assert body["event_id"] == sent["event_id"]
    assert body["topic"] == TOPIC
    [record] = harness.broker.records(TOPIC)
    assert record.key == "071"
    event = decode_telemetry(record.value)
    assert isinstance(event, BtsEvent)
    assert str(event.event_id) == sent["event_id"]
    assert event.source == "so-tttt-tq"
    assert event.unit_code == "02233"
    assert event.observed_at.isoformat() == "2025-05-01"
    assert event.granularity is Granularity.MONTH
    assert event.payload.model_dump(mode="json") == sent["payload"]
    assert (body["partition"], body["offset"]) == (record.partition, record.offset)


async def test_province_event_is_keyed_by_the_province(harness: Harness, make_bts: Any) -> None:
    r = await harness.client.post("/v1/events", json=make_bts("08"), headers=harness.headers())
    assert r.status_code == 202, r.text
    assert [rec.key for rec in harness.broker.records(TOPIC)] == ["08"]


async def test_resend_is_a_duplicate_and_published_once(harness: Harness, make_bts: Any) -> None:
    sent = make_bts()
    first = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    again = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "event_id": sent["event_id"]}
    assert len(harness.broker.records(TOPIC)) == 1
    assert harness.metric("ioc_ingest_events_total", {"family": "bts", "outcome": "duplicate"}) == 1


async def test_idempotency_key_header_derives_a_stable_event_id(
    harness: Harness, make_bts: Any
) -> None:
    sent = make_bts()
    del sent["event_id"]
    headers = {**harness.headers(), "Idempotency-Key": "report-2025-05-071"}
    first = await harness.client.post("/v1/events", json=sent, headers=headers)
    again = await harness.client.post("/v1/events", json=sent, headers=headers)
    expected = str(derive_event_id("so-tttt-tq", "report-2025-05-071"))
    assert first.status_code == 202
    assert first.json()["event_id"] == expected
    assert again.json() == {"status": "duplicate", "event_id": expected}


async def test_without_event_id_or_idempotency_key_is_refused(
    harness: Harness, make_bts: Any
) -> None:
    sent = make_bts()
    del sent["event_id"]
    r = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert r.status_code == 422
    assert "Idempotency-Key" in errors(r.json())["event_id"]
    assert harness.broker.records(TOPIC) == []


async def test_field_errors_name_the_payload_field_without_the_union_tag(
    harness: Harness, make_bts: Any
) -> None:
    sent = make_bts(payload={"operator": "Viettel", "technology": "6G", "sites": -1})
    r = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert r.status_code == 422
    body = r.json()
    assert body["error"]["code"] == "invalid_input"
    assert body["error"]["message"]
    assert body["error"]["message_en"]
    assert set(errors(body)) == {
        "payload.technology",
        "payload.sites",
        "payload.villages_total",
        "payload.villages_covered",
    }


async def test_cross_field_rules_name_the_offending_field(harness: Harness, make_bts: Any) -> None:
    bts = make_bts()
    bts["payload"]["villages_covered"] = 70
    r = await harness.client.post("/v1/events", json=bts, headers=harness.headers())
    assert r.status_code == 422
    assert "must not exceed villages_total" in errors(r.json())["payload.villages_covered"]

    service = {
        "event_id": str(uuid.uuid4()),
        "family": "public_service",
        "unit_code": "071",
        "observed_at": "2025-05",
        "payload": {
            "service_level": "full_online",
            "dossiers_total": 10,
            "dossiers_online": 11,
            "dossiers_processed_online": 5,
            "paid_online": 1,
        },
    }
    r = await harness.client.post("/v1/events", json=service, headers=harness.headers())
    assert r.status_code == 422
    assert "payload.dossiers_online" in errors(r.json())


async def test_unknown_family_is_reported_on_family(harness: Harness, make_bts: Any) -> None:
    r = await harness.client.post(
        "/v1/events", json=make_bts(family="weather"), headers=harness.headers()
    )
    assert r.status_code == 422
    assert "bts" in errors(r.json())["family"]


async def test_unit_must_exist_on_the_period_start(harness: Harness, make_bts: Any) -> None:
    r = await harness.client.post("/v1/events", json=make_bts("999"), headers=harness.headers())
    assert r.status_code == 422
    assert "999" in errors(r.json())["unit_code"]


async def test_district_codes_are_refused_after_the_reform_with_the_reason() -> None:
    async with memory_harness(now=lambda: datetime(2025, 9, 15, tzinfo=UTC)) as h:
        r = await h.client.post(
            "/v1/events", json={**bts_event("071"), "observed_at": "2025-08"}, headers=h.headers()
        )
        assert r.status_code == 422
        assert "abolished" in errors(r.json())["unit_code"]
        # ...while a post-reform commune of the province is keyed by its former district.
        r = await h.client.post(
            "/v1/events", json={**bts_event("00691"), "observed_at": "2025-08"}, headers=h.headers()
        )
        assert r.status_code == 202, r.text
        assert [rec.key for rec in h.broker.records(TOPIC)] == ["024"]


async def test_future_periods_are_refused_beyond_the_skew(harness: Harness, make_bts: Any) -> None:
    # FIXED_NOW is 2025-06-20 10:00 in Vietnam.
    r = await harness.client.post(
        "/v1/events", json=make_bts(observed_at="2025-06-21"), headers=harness.headers()
    )
    assert r.status_code == 422
    assert "future" in errors(r.json())["observed_at"]
    # The current month started in the past: fine.
    r = await harness.client.post(
        "/v1/events", json=make_bts(observed_at="2025-06"), headers=harness.headers()
    )
    assert r.status_code == 202


async def test_old_periods_need_the_backfill_flag(harness: Harness, make_bts: Any) -> None:
    old = make_bts(observed_at="2023-12")
    r = await harness.client.post("/v1/events", json=old, headers=harness.headers())
    assert r.status_code == 422
    assert "backfill" in errors(r.json())["observed_at"]
    r = await harness.client.post(
        "/v1/events", json={**old, "backfill": True}, headers=harness.headers()
    )
    assert r.status_code == 202, r.text
    assert harness.metric("ioc_ingest_rejections_total", {"reason": "backfill"}) == 1


async def test_observation_indicator_must_be_in_the_catalogue_in_its_form(
    harness: Harness,
) -> None:
    def obs(indicator: str, payload: dict[str, float]) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "family": "observation",
            "indicator": indicator,
            "unit_code": "08",
            "observed_at": "2025-Q1",
            "payload": payload,
        }

    h = harness.headers()
    r = await harness.client.post(
        "/v1/events", json=obs("households_fixed_broadband", {"value": 3}), headers=h
    )
    assert r.status_code == 422
    assert "ratio" in errors(r.json())["payload"]
    r = await harness.client.post(
        "/v1/events", json=obs("households_fixed_broadbnd", {"value": 3}), headers=h
    )
    assert r.status_code == 422
    assert "households_fixed_broadband" in errors(r.json())["indicator"]  # did you mean
    r = await harness.client.post(
        "/v1/events",
        json=obs("households_fixed_broadband", {"numerator": 120, "denominator": 100}),
        headers=h,
    )
    assert r.status_code == 422
    assert "payload.numerator" in errors(r.json())
    r = await harness.client.post(
        "/v1/events",
        json=obs("households_fixed_broadband", {"numerator": 80470, "denominator": 100000}),
        headers=h,
    )
    assert r.status_code == 202, r.text


async def test_platform_fields_cannot_be_sent(harness: Harness, make_bts: Any) -> None:
    sent = make_bts(source="someone-else", received_at="2020-01-01T00:00:00Z")
    r = await harness.client.post("/v1/events", json=sent, headers=harness.headers())
    assert r.status_code == 422
    assert set(errors(r.json())) == {"source", "received_at"}


async def test_body_that_is_not_json_or_not_an_object_is_refused(harness: Harness) -> None:
    r = await harness.client.post("/v1/events", content=b"{nope", headers=harness.headers())
    assert r.status_code == 422
    assert "body" in errors(r.json())
    r = await harness.client.post("/v1/events", content=b"[1, 2]", headers=harness.headers())
    assert r.status_code == 422
    assert "body" in errors(r.json())


async def test_revision_is_carried_and_checked(harness: Harness, make_bts: Any) -> None:
    r = await harness.client.post(
        "/v1/events", json=make_bts(revision=3), headers=harness.headers()
    )
    assert r.status_code == 202
    [record] = harness.broker.records(TOPIC)
    assert orjson.loads(record.value)["revision"] == 3
    r = await harness.client.post(
        "/v1/events", json=make_bts(revision=0), headers=harness.headers()
    )
    assert r.status_code == 422
    assert "revision" in errors(r.json())
