"""The error answers each endpoint documents in OpenAPI."""

from __future__ import annotations

from typing import Any

from ioc_common.web import ERROR_RESPONSE_SCHEMA

Responses = dict[int | str, dict[str, Any]]

#: Why a write is refused, by status: (Vietnamese, English).
_WHY: dict[int, tuple[str, str]] = {
    401: ("Thiếu, sai hoặc đã thu hồi khóa API", "Missing, unknown or revoked key"),
    403: ("Ngoài phạm vi của khóa", "Out of the key's scope (family, unit)"),
    413: ("Nội dung quá lớn", "Request body too large"),
    422: ("Dữ liệu không hợp lệ (trường và lý do)", "Invalid input (field and why)"),
    409: (
        "event_id đã dùng cho một số liệu khác; sửa số liệu bằng event_id mới và revision cao hơn",
        "event_id already used for a different figure; correct with a new id and higher revision",
    ),
    429: ("Gửi quá nhanh; xem Retry-After", "Too many requests; see Retry-After"),
    503: (
        "Kafka hoặc CSDL tạm thời không sẵn sàng; chưa nhận gì, gửi lại sau Retry-After",
        "Broker or database unavailable; nothing was accepted, retry after Retry-After",
    ),
}

#: Every error a write endpoint (events, uploads) documents.
WRITE_ERRORS: Responses = {
    status: {**ERROR_RESPONSE_SCHEMA, "description": f"{vi} / {en}"}
    for status, (vi, en) in _WHY.items()
}
