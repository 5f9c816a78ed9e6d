"""The error answers each endpoint documents in OpenAPI."""

from __future__ import annotations

from typing import Any

from ioc_common.web import ERROR_RESPONSE_SCHEMA

Responses = dict[int | str, dict[str, Any]]


def _err(vi: str, en: str) -> dict[str, Any]:
    return {**ERROR_RESPONSE_SCHEMA, "description": f"{vi} / {en}"}


UNAUTHENTICATED: Responses = {
    401: _err("Thiếu, sai hoặc đã thu hồi khóa API", "Missing, unknown or revoked key")
}
FORBIDDEN: Responses = {
    403: _err("Ngoài phạm vi của khóa", "Out of the key's scope (family, unit)")
}
TOO_LARGE: Responses = {413: _err("Nội dung quá lớn", "Request body too large")}
INVALID: Responses = {
    422: _err("Dữ liệu không hợp lệ (trường và lý do)", "Invalid input (field and why)")
}
CONFLICT: Responses = {
    409: _err(
        "event_id đã dùng cho một số liệu khác; sửa số liệu bằng event_id mới và revision cao hơn",
        "event_id already used for a different figure; correct with a new id and higher revision",
    )
}
RATE_LIMITED: Responses = {
    429: _err("Gửi quá nhanh; xem Retry-After", "Too many requests; see Retry-After")
}
UNAVAILABLE: Responses = {
    503: _err(
        "Kafka hoặc CSDL tạm thời không sẵn sàng; chưa nhận gì, gửi lại sau Retry-After",
        "Broker or database unavailable; nothing was accepted, retry after Retry-After",
    )
}
WRITE_ERRORS: Responses = {
    **UNAUTHENTICATED,
    **FORBIDDEN,
    **TOO_LARGE,
    **INVALID,
    **CONFLICT,
    **RATE_LIMITED,
    **UNAVAILABLE,
}
