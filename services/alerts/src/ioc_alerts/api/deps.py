"""Dependencies of the routes. The alerts API is internal: the gateway authenticates
operators and passes who acts in ``X-IOC-Actor``; with ``IOC_ALERTS_SERVICE_TOKEN`` set,
callers must also present it as a bearer token."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_alerts.state import AlertsState
from ioc_common.errors import Unauthenticated


# Dependencies are ``async``: FastAPI runs a plain ``def`` one in its thread pool.
async def get_state(request: Request) -> AlertsState:
    state: AlertsState = request.app.state.alerts
    return state


State = Annotated[AlertsState, Depends(get_state)]


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session, session.begin():
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]

#: PostgreSQL's OFFSET takes a bigint; a larger number is a 422, not a database error.
MAX_OFFSET = 2**31 - 1
#: Indicator codes and rule names; also keeps NUL (which PostgreSQL text cannot hold) out.
CODE_PATTERN = r"^[A-Za-z0-9_.-]+$"
TargetId = Annotated[
    str, Path(max_length=100, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", description="target id")
]


async def check_service_token(
    state: State, authorization: Annotated[str | None, Header()] = None
) -> None:
    token = state.settings.service_token
    if token is None:
        return
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthenticated("Thiếu hoặc sai mã dịch vụ", "Missing or wrong service token")


async def require_actor(
    x_ioc_actor: Annotated[
        str | None,
        Header(description="người thực hiện, do cổng (gateway) đặt / who acts, set by the gateway"),
    ] = None,
) -> str:
    actor = (x_ioc_actor or "").strip()
    if not actor or len(actor) > 128:
        raise Unauthenticated(
            "Thiếu người thực hiện (tiêu đề X-IOC-Actor)", "Missing actor (X-IOC-Actor header)"
        )
    return actor


Actor = Annotated[str, Depends(require_actor)]
