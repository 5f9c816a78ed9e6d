"""The write endpoints' answers, written as plain dictionaries, are exactly what the
documented response models (``schemas``) would write."""

from __future__ import annotations

import uuid

import orjson

from ioc_common.errors import FieldError
from ioc_ingest.api.routes.results import accepted_response, batch_response, duplicate_response
from ioc_ingest.ingestor import Outcome
from ioc_ingest.schemas import Accepted, BatchResult, Duplicate, FieldErrorOut, ItemResult
from ioc_ingest.testing import Harness

OUTCOMES = [
    Outcome(0, "accepted", uuid.uuid4(), "bts", topic="t", partition=1, offset=7),
    Outcome(1, "duplicate", uuid.uuid4(), "bts"),
    Outcome(2, "rejected", None, None, [FieldError("event_id", "required")], code="invalid_input"),
    Outcome(
        3,
        "rejected",
        uuid.uuid4(),
        "cashless",
        [FieldError("family", "no"), FieldError("unit_code", "no")],
        code="forbidden",
    ),
]


def modelled(rows: list[int] | None) -> dict[str, object]:
    results = [
        ItemResult(
            index=o.index,
            row=rows[o.index] if rows is not None else None,
            event_id=o.event_id,
            status=o.status,
            code=o.code,
            errors=[FieldErrorOut(field=e.field, reason=e.reason) for e in o.errors],
        )
        for o in OUTCOMES
    ]
    body = BatchResult(accepted=1, duplicates=1, rejected=2, results=results)
    return body.model_dump(mode="json", exclude_none=rows is None)


def test_batch_answers_match_the_batch_result_model_with_and_without_rows() -> None:
    for rows in (None, [2, 3, 4, 5]):
        answer = batch_response(OUTCOMES, rows=rows)
        assert answer.status_code == 202
        assert answer.headers["content-type"] == "application/json"
        assert orjson.loads(answer.body) == modelled(rows)
    nothing_new = batch_response(OUTCOMES[1:])
    assert nothing_new.status_code == 200


def test_single_answers_match_the_accepted_and_duplicate_models() -> None:
    eid = uuid.uuid4()
    accepted = accepted_response(eid, "ioc.telemetry.bts.v1", 3, 42)
    assert accepted.status_code == 202
    assert orjson.loads(accepted.body) == Accepted(
        event_id=eid, topic="ioc.telemetry.bts.v1", partition=3, offset=42
    ).model_dump(mode="json")
    duplicate = duplicate_response(eid)
    assert duplicate.status_code == 200
    assert orjson.loads(duplicate.body) == Duplicate(event_id=eid).model_dump(mode="json")


async def test_an_idempotency_key_header_out_of_bounds_is_a_field_error(
    harness: Harness, make_bts: object
) -> None:
    body = make_bts()  # type: ignore[operator]
    del body["event_id"]
    for value, reason in (
        ("", "không được để trống / must not be empty"),
        ("k" * 256, "không được dài quá 255 ký tự / must have at most 255 characters"),
    ):
        r = await harness.client.post(
            "/v1/events", json=body, headers={**harness.headers(), "Idempotency-Key": value}
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"] == [{"field": "Idempotency-Key", "reason": reason}]


async def test_the_key_is_checked_before_the_idempotency_key_header(harness: Harness) -> None:
    r = await harness.client.post(
        "/v1/events", json={}, headers={"Idempotency-Key": "", "X-API-Key": "ioc_nope"}
    )
    assert r.status_code == 401
