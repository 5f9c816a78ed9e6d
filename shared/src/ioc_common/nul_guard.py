"""Refuse NUL characters at the door: PostgreSQL text cannot hold them, so a NUL in a query
string, a path or a JSON string would otherwise reach the database as a 500. Found by the
reliability suite's injection sweep (tests/reliability).

app.add_middleware(RejectNulMiddleware)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ioc_common.errors import FieldError, InvalidInput
from ioc_common.web import error_response

_REASON = "ký tự NUL không được phép / the NUL character is not allowed"


def _refusal(where: str) -> InvalidInput:
    return InvalidInput(
        "Dữ liệu chứa ký tự NUL không hợp lệ",
        "Input contains a NUL character",
        [FieldError(where, _REASON)],
    )


class RejectNulMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            where = "path" if "\x00" in scope.get("path", "") else "query"
            await error_response(_refusal(where))(scope, receive, send)
            return
        # Read the body (the app reads it whole anyway) and hand the same bytes on.
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        # JSON writes NUL as the escape \u0000; a raw 0x00 is never valid in a text body.
        if b"\x00" in body or b"\\u0000" in body.lower():
            await error_response(_refusal("body"))(scope, receive, send)
            return

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)
