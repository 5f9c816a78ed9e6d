"""The live feed: ``/v1/live`` over WebSocket and ``/v1/live/sse`` over Server-Sent Events.

Both authenticate by the session: the HttpOnly, SameSite=Strict cookie the dashboard holds, or
``Authorization: Bearer`` (API clients; the WebSocket handshake carries it too) — never a token
in the URL, which would end up in access logs and proxies. The WebSocket refuses a handshake
whose ``Origin`` is not the gateway's own (or one of ``allowed_origins``): 403. Both apply the
operator's unit scope and
the filters ``pillar``, ``unit``, ``severity`` (alerts) and ``type``, and resume after a
reconnect: ``after=<seq>`` (SSE: the ``Last-Event-ID`` header) replays what was missed. Each
message is ``{"seq", "type": "metric"|"alert"|"telemetry", "data"}``; ``{"type": "resync"}``
tells the client some messages were dropped and it should reload its snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from starlette.requests import HTTPConnection

from ioc_common.catalogue import Pillar
from ioc_common.errors import IocError, Unauthenticated
from ioc_common.events import AlertSeverity
from ioc_common.logs import get_logger
from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, authenticate, check_unit, session_token
from ioc_gateway.auth import Operator
from ioc_gateway.hub import KINDS, Client, ClientGone, Filters
from ioc_gateway.state import GatewayState

router = APIRouter(tags=["live"])
log = get_logger("ioc.gateway.live")

_Pillars = Annotated[list[Pillar] | None, Query(alias="pillar", description="trụ cột / pillar")]
_Unit = Annotated[
    str | None, Query(pattern=r"^(\d{2}|\d{3}|\d{5})$", description="đơn vị (và cấp dưới) / unit")
]
_Severities = Annotated[
    list[AlertSeverity] | None, Query(alias="severity", description="mức cảnh báo / severity")
]
_Types = Annotated[list[str] | None, Query(alias="type", description="metric | alert | telemetry")]
#: SSE comment lines keep proxies from closing an idle stream.
HEARTBEAT_S = 15.0


def _filters(
    user: Operator,
    pillars: list[Pillar] | None,
    unit: str | None,
    severities: list[AlertSeverity] | None,
    types: list[str] | None,
) -> Filters:
    if unit is not None:
        check_unit(user, unit)
    kinds = frozenset(t for t in (types or KINDS) if t in KINDS)
    return Filters(
        scope=user.scope,
        pillars=frozenset(p.value for p in pillars or ()),
        unit=unit,
        severities=frozenset(s.value for s in severities or ()),
        kinds=kinds or frozenset(KINDS),
    )


def _refuse_token_in_url(connection: HTTPConnection) -> None:
    """Said plainly to an old client, rather than a bare "please log in"."""
    if "token" in connection.query_params:
        raise Unauthenticated(
            "Không nhận token trong URL; dùng cookie phiên hoặc header Authorization",
            "A token in the URL is not accepted; use the session cookie or the "
            "Authorization header",
        )


def origin_allowed(websocket: WebSocket, allowed: list[str]) -> bool:
    """A handshake without ``Origin`` (not a browser) passes; a browser's must be the gateway's
    own origin (same host and port as the request) or one of ``allowed``."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if allowed:
        return origin in {o.strip().rstrip("/").lower() for o in allowed}
    scheme, _, netloc = origin.partition("://")
    host = websocket.headers.get("host", "").strip().lower()
    return scheme in ("http", "https") and bool(host) and netloc == host


def _hello(state: GatewayState, user: Operator) -> str:
    return orjson.dumps(
        {"type": "hello", "seq": state.hub.last_seq, "user": user.username, "scope": user.scope}
    ).decode()


@router.websocket("/v1/live")
async def live_ws(
    websocket: WebSocket,
    pillars: _Pillars = None,
    unit: _Unit = None,
    severities: _Severities = None,
    types: _Types = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> None:
    state: GatewayState = websocket.app.state.gateway
    if not origin_allowed(websocket, state.settings.allowed_origins):
        # Refused before the handshake completes (HTTP 403): a page of another site cannot
        # ride on the operator's cookie (cross-site WebSocket hijacking).
        log.warning("gateway.live_origin_refused", origin=websocket.headers.get("origin", "")[:200])
        await websocket.close(code=1008)
        return
    await websocket.accept()
    try:
        _refuse_token_in_url(websocket)
        user = await authenticate(state, session_token(websocket))
        filters = _filters(user, pillars, unit, severities, types)
    except IocError as err:
        # Accepted first so the browser sees why (4401: log in again; 4403: out of scope).
        await websocket.send_text(orjson.dumps(err.body() | {"type": "error"}).decode())
        await websocket.close(code=4000 + err.status)
        return
    client = state.hub.connect(filters, "ws", after=after)
    log.info("gateway.live_connected", transport="ws", user=user.username, after=after)
    metrics = state.metrics.pushed

    async def send() -> None:
        await websocket.send_text(_hello(state, user))
        while True:
            kind, body = await client.next()
            await websocket.send_text(body)
            metrics.labels("ws", kind).inc()

    async def receive() -> None:
        # Clients send nothing we need; reading notices the disconnect.
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

    tasks = {
        asyncio.create_task(send()),
        asyncio.create_task(receive()),
        # The sender may be stuck writing to a stalled socket; this notices the hub gave up.
        asyncio.create_task(client.wait_closed()),
    }
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
        if client.closed_reason == "too_slow":
            # Close so it reconnects with after=<seq> and resynchronises.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(code=1013, reason="too slow"), 2.0)
        state.hub.disconnect(client)
        log.info(
            "gateway.live_disconnected",
            transport="ws",
            user=user.username,
            dropped=client.dropped,
            coalesced=client.coalesced,
            reason=client.closed_reason,
        )


async def _sse(state: GatewayState, client: Client, user: Operator) -> AsyncIterator[str]:
    try:
        yield f"retry: 2000\nevent: hello\ndata: {_hello(state, user)}\n\n"
        while True:
            try:
                kind, body = await asyncio.wait_for(client.next(), HEARTBEAT_S)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            except ClientGone:
                return
            seq = orjson.loads(body).get("seq") if kind != "resync" else None
            head = f"id: {seq}\n" if seq is not None else ""
            yield f"{head}event: {kind}\ndata: {body}\n\n"
            state.metrics.pushed.labels("sse", kind).inc()
    finally:
        state.hub.disconnect(client)


@router.get(
    "/v1/live/sse",
    summary="Luồng trực tiếp (SSE) / Live feed over Server-Sent Events",
    description="Sự kiện: hello, metric, alert, telemetry, resync. / Events: hello, metric, "
    "alert, telemetry, resync. Reconnects resume from `Last-Event-ID`.",
    response_class=StreamingResponse,
    responses={401: ERROR_RESPONSE_SCHEMA, 403: ERROR_RESPONSE_SCHEMA},
)
async def live_sse(
    request: Request,
    user: CurrentUser,
    pillars: _Pillars = None,
    unit: _Unit = None,
    severities: _Severities = None,
    types: _Types = None,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    state: GatewayState = request.app.state.gateway
    _refuse_token_in_url(request)
    filters = _filters(user, pillars, unit, severities, types)
    if after is None and last_event_id and last_event_id.isdigit():
        after = int(last_event_id)
    client = state.hub.connect(filters, "sse", after=after)
    headers: dict[str, Any] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _sse(state, client, user), media_type="text/event-stream", headers=headers
    )
