"""The live feed: ``/v1/live`` over WebSocket and ``/v1/live/sse`` over Server-Sent Events.

Both authenticate by the session cookie (or ``token=``), apply the operator's unit scope and
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

from ioc_common.catalogue import Pillar
from ioc_common.errors import IocError
from ioc_common.events import AlertSeverity
from ioc_common.logs import get_logger
from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, authenticate, check_unit
from ioc_gateway.auth import COOKIE, Operator
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
    token: Annotated[str | None, Query(max_length=2048)] = None,
) -> None:
    state: GatewayState = websocket.app.state.gateway
    await websocket.accept()
    try:
        user = await authenticate(state, token or websocket.cookies.get(COOKIE))
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
    filters = _filters(user, pillars, unit, severities, types)
    if after is None and last_event_id and last_event_id.isdigit():
        after = int(last_event_id)
    client = state.hub.connect(filters, "sse", after=after)
    headers: dict[str, Any] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _sse(state, client, user), media_type="text/event-stream", headers=headers
    )
