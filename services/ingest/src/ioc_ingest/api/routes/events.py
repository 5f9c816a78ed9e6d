"""``POST /v1/events`` and ``POST /v1/events:batch``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ioc_common.errors import Conflict, FieldError, Forbidden, InvalidInput
from ioc_ingest.api.responses import WRITE_ERRORS
from ioc_ingest.api.routes.results import (
    JsonBytes,
    accepted_response,
    batch_response,
    duplicate_response,
)
from ioc_ingest.deps import KEY_SECURITY, read_json, request_key
from ioc_ingest.schemas import Accepted, BatchResult, Duplicate

router = APIRouter(prefix="/v1", tags=["events"])


# These two endpoints read their key and headers themselves (``deps.request_key``): FastAPI's
# dependency solving was the largest cost of a single-event request after the I/O. What it
# would have documented is written here instead.
_IDEMPOTENCY_KEY = "Idempotency-Key"
_MAX_IDEMPOTENCY_KEY = 255
_IDEMPOTENCY_DOC = "Khi không có event_id / used when the body has no event_id"


def _doc(ref: str, *headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
        },
        "security": KEY_SECURITY,
        **({"parameters": list(headers)} if headers else {}),
    }


_IDEMPOTENCY_HEADER: dict[str, Any] = {
    "name": _IDEMPOTENCY_KEY,
    "in": "header",
    "required": False,
    "description": _IDEMPOTENCY_DOC,
    "schema": {
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": _MAX_IDEMPOTENCY_KEY},
            {"type": "null"},
        ],
        "title": _IDEMPOTENCY_KEY,
        "description": _IDEMPOTENCY_DOC,
    },
}


def _idempotency_key(request: Request) -> str | None:
    """The header, checked as a declared ``Header(min_length=1, max_length=255)`` would be."""
    value = request.headers.get(_IDEMPOTENCY_KEY)
    if value is None or 1 <= len(value) <= _MAX_IDEMPOTENCY_KEY:
        return value
    reason = (
        "không được để trống / must not be empty"
        if not value
        else f"không được dài quá {_MAX_IDEMPOTENCY_KEY} ký tự / "
        f"must have at most {_MAX_IDEMPOTENCY_KEY} characters"
    )
    raise InvalidInput(
        "Dữ liệu không hợp lệ", "Invalid input", [FieldError(_IDEMPOTENCY_KEY, reason)]
    )


@router.post(
    "/events",
    summary="Gửi một sự kiện / Send one event",
    description=(
        "Nhận một số liệu, trả 202 sau khi Kafka đã xác nhận; gửi lại cùng event_id (hoặc "
        "Idempotency-Key) với cùng nội dung được trả 200 'duplicate' và không bao giờ bị tính hai "
        "lần; cùng mã nhưng nội dung khác: 409. "
        "Kafka không sẵn sàng: 503 kèm Retry-After.\n\n"
        "Accepts one figure and answers 202 only after Kafka acknowledged it; a resend with "
        "the same event_id (or Idempotency-Key) and the same content is answered 200 "
        "'duplicate' and never counted twice; the same id with other content: 409. "
        "Broker down: 503 with Retry-After."
    ),
    status_code=202,
    response_model=None,
    responses={
        202: {"model": Accepted, "description": "Đã nhận / accepted (Kafka acknowledged)"},
        200: {"model": Duplicate, "description": "Đã nhận trước đó / already received"},
        **WRITE_ERRORS,
    },
    openapi_extra=_doc("Submission", _IDEMPOTENCY_HEADER),
)
async def post_event(request: Request) -> JsonBytes:
    state, key = await request_key(request)
    idempotency_key = _idempotency_key(request)
    body = await read_json(request)
    [outcome] = await state.ingestor.ingest(
        key, [body], endpoint="single", idempotency_key=idempotency_key
    )
    if outcome.status == "rejected":
        if outcome.code == "forbidden":
            state.metrics.auth_failures.labels("forbidden").inc()
            raise Forbidden(
                "Khóa API không có quyền gửi số liệu này: "
                + "; ".join(e.reason.split(" / ")[0] for e in outcome.errors),
                "This API key may not write this event: "
                + "; ".join(e.reason.split(" / ")[-1] for e in outcome.errors),
                outcome.errors,
            )
        if outcome.code == "conflict":
            raise Conflict(
                "Mã sự kiện này đã được dùng cho một số liệu khác. Muốn sửa số liệu, hãy gửi với "
                "event_id mới và revision cao hơn",
                "This event_id was already used for a different figure. To correct a figure, "
                "send it with a new event_id and a higher revision",
                outcome.errors,
            )
        raise InvalidInput("Dữ liệu không hợp lệ", "Invalid event", outcome.errors)
    assert outcome.event_id is not None
    if outcome.status == "duplicate":
        return duplicate_response(outcome.event_id)
    assert outcome.topic is not None
    assert outcome.partition is not None
    assert outcome.offset is not None
    return accepted_response(outcome.event_id, outcome.topic, outcome.partition, outcome.offset)


@router.post(
    "/events:batch",
    summary="Gửi một lô sự kiện / Send a batch of events",
    description=(
        "Tối đa 5.000 sự kiện (cấu hình được). Mỗi sự kiện được xét riêng: sự kiện hợp lệ được "
        "gửi lên Kafka kể cả khi sự kiện khác bị từ chối; kết quả theo từng vị trí (index). "
        "Mỗi sự kiện cần event_id hoặc idempotency_key. Trả 202 nếu có ít nhất một sự kiện "
        "được nhận, ngược lại 200.\n\n"
        "Up to 5,000 events (configurable). Each event is judged alone: valid ones are "
        "published even when others are rejected; results are given per index. Every item "
        "needs an event_id or an idempotency_key. 202 when at least one event was accepted, "
        "else 200. A broker failure fails the whole batch with 503 (nothing accepted)."
    ),
    status_code=202,
    response_model=None,
    responses={
        202: {"model": BatchResult, "description": "Ít nhất một sự kiện được nhận / some accepted"},
        200: {"model": BatchResult, "description": "Không sự kiện nào mới / nothing new accepted"},
        **WRITE_ERRORS,
    },
    openapi_extra=_doc("BatchRequest"),
)
async def post_batch(request: Request) -> JsonBytes:
    state, key = await request_key(request)
    body = await read_json(request)
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not events:
        raise InvalidInput(
            "Cần trường 'events' là một danh sách không rỗng",
            "The body must be an object with a non-empty list 'events'",
            [
                FieldError(
                    "events",
                    "cần một danh sách sự kiện không rỗng / a non-empty list of events is required",
                )
            ],
        )
    assert isinstance(body, dict)
    unknown = sorted(str(k) for k in body if k != "events")
    if unknown:
        raise InvalidInput(
            "Trường không hợp lệ ở cấp lô",
            "Unknown fields at batch level",
            [
                FieldError(
                    k,
                    'không có trường này; chỉ gửi {"events": [...]} / '
                    'not a field: send only {"events": [...]}',
                )
                for k in unknown
            ],
        )
    limit = state.settings.max_batch_events
    if len(events) > limit:
        raise InvalidInput(
            f"Lô có {len(events):,} sự kiện, vượt quá tối đa {limit:,}; hãy chia nhỏ",
            f"The batch has {len(events):,} events, more than the maximum {limit:,}; split it",
            [
                FieldError(
                    "events", f"tối đa {limit} sự kiện mỗi lô / at most {limit} events per batch"
                )
            ],
        )
    outcomes = await state.ingestor.ingest(key, events, endpoint="batch", item_keys=True)
    return batch_response(outcomes)
