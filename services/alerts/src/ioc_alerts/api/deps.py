"""Dependencies of the routes. The alerts API is internal: callers present the service token
(``IOC_ALERTS_SERVICE_TOKEN``, required outside ``ioc dev``), and an action in a person's name
needs the gateway's signed actor assertion (``IOC_ALERTS_ACTOR_KEY``;
``ioc_common.service_auth``): the service token alone cannot name an actor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Path, Query, Request
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from ioc_alerts.state import AlertsState
from ioc_common import audit
from ioc_common.errors import Unauthenticated
from ioc_common.service_auth import (
    ACTOR_HEADER,
    ActorClaims,
    require_service_token,
    verify_actor,
)


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
#: A list's page: at most 500 items (each list route sets its own default), from ``offset``.
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
#: Indicator codes and rule names; also keeps NUL (which PostgreSQL text cannot hold) out.
CODE_PATTERN = r"^[A-Za-z0-9_.-]+$"
TargetId = Annotated[
    str, Path(max_length=100, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", description="target id")
]


def _service_token(request: HTTPConnection) -> SecretStr | None:
    token: SecretStr | None = request.app.state.alerts.settings.service_token
    return token


check_service_token = require_service_token(_service_token)


async def require_actor(
    request: Request,
    state: State,
    x_ioc_actor: Annotated[
        str | None,
        Header(
            description="chỉ dùng với `ioc dev` khi chưa đặt khóa ký / `ioc dev` without an "
            "actor key only; otherwise the signed X-IOC-Actor-Assertion is required",
            deprecated=True,
        ),
    ] = None,
) -> ActorClaims:
    """Who acts: verified from the gateway's signed assertion. Only in ``ioc dev`` without an
    actor key is the plain ``X-IOC-Actor`` header believed."""
    key = state.settings.actor_key
    if key is not None or state.settings.environment != "dev":
        if key is None:  # settings refuse this at start-up; never believe an unsigned name
            raise Unauthenticated("Chưa cấu hình khóa ký", "No actor key configured")
        return verify_actor(
            request.headers.get(ACTOR_HEADER),
            key,
            method=request.method,
            path=request.url.path,
        )
    actor = (x_ioc_actor or "").strip()
    if not actor or len(actor) > 128:
        raise Unauthenticated(
            "Thiếu người thực hiện (tiêu đề X-IOC-Actor)", "Missing actor (X-IOC-Actor header)"
        )
    client = request.client.host if request.client else None
    return ActorClaims(
        actor, "", "", request.method, request.url.path, client, request.headers.get("user-agent")
    )


Actor = Annotated[ActorClaims, Depends(require_actor)]


async def audited(
    session: AsyncSession,
    actor: ActorClaims,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit row for an action of the alerts API, under the verified actor and the address
    and browser the gateway saw them use."""
    await audit.record(
        session,
        service="alerts",
        actor=actor.actor,
        action=action,
        target=target,
        detail=detail,
        source_address=actor.source_address,
        user_agent=actor.user_agent,
    )


async def insert_audited(
    session: AsyncSession,
    actor: ActorClaims,
    table: sa.Table,
    row: dict[str, Any],
    action: str,
    detail: dict[str, Any],
) -> None:
    """Insert ``row`` into ``table`` and audit ``action`` on it (the target: its ``id``)."""
    await session.execute(sa.insert(table).values(**row))
    await audited(session, actor, action=action, target=str(row["id"]), detail=detail)
