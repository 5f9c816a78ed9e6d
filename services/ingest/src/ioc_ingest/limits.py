"""Request body caps, enforced on the bytes actually received (Content-Length is only a hint).

A pure ASGI middleware: it counts the body as the app reads it and, past the cap, answers 413
itself and drops whatever the app would have answered (FastAPI turns a failed multipart read
into a 400, which would hide the real reason).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ioc_common.errors import PayloadTooLarge
from ioc_common.web import error_response


class _TooLarge(Exception):
    pass


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Nội dung gửi lên vượt quá {limit:,} byte; hãy chia nhỏ",
        f"The request body exceeds {limit:,} bytes; split it",
    )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await error_response(too_large(limit))(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def capped_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await error_response(too_large(limit))(scope, receive, send)
