"""HTTP hardening of every gateway response: a Content-Security-Policy with no inline script or
style (the dashboard keeps all of it in ``static/``), no MIME sniffing, no referrer, no framing,
and HSTS when ``hsts_seconds`` says the gateway is served over HTTPS.

A plain ASGI middleware (not ``BaseHTTPMiddleware``): it only adds headers to
``http.response.start`` and so never buffers the SSE stream.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The dashboard and the API: everything from the gateway itself (``connect-src 'self'``
#: covers the live feed's ``ws(s)://`` on the same host).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
#: FastAPI's /docs and /redoc pages load Swagger UI / ReDoc from a CDN with an inline script;
#: they hold no session data (the API checks the session).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; "
    "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def security_headers(path: str, hsts_seconds: int = 0) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", (DOCS_CSP if path in DOCS_PATHS else CSP).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]
    if hsts_seconds > 0:
        headers.append((b"strict-transport-security", f"max-age={hsts_seconds}".encode()))
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, hsts_seconds: int = 0) -> None:
        self.app = app
        self.hsts_seconds = hsts_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope.get("path", ""), self.hsts_seconds)
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
