"""Dependencies of the routes, as ``Annotated`` aliases: the shared state, the logged-in
operator (cookie or bearer token), and the unit-scope checks every endpoint applies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from ioc_common.errors import Forbidden, Unauthenticated
from ioc_common.reference.units import within
from ioc_gateway.auth import COOKIE, Operator, require_actor_role
from ioc_gateway.state import GatewayState


# Dependencies are ``async``: FastAPI runs a plain ``def`` one in its thread pool.
async def get_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


State = Annotated[GatewayState, Depends(get_state)]

bearer = HTTPBearer(
    auto_error=False,
    description="Authorization: Bearer <token> từ /v1/auth/login / the token from "
    "/v1/auth/login (the dashboard uses the HttpOnly cookie instead)",
)


async def authenticate(state: GatewayState, token: str | None) -> Operator:
    if not token:
        raise Unauthenticated("Vui lòng đăng nhập", "Please log in")
    return await state.users.session(state.signer.verify(token))


def session_token(connection: HTTPConnection) -> str | None:
    """The session of a request or WebSocket handshake: ``Authorization: Bearer``, else the
    cookie. Never the URL: a URL ends up in access logs, proxies and browser history."""
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return connection.cookies.get(COOKIE)


async def current_user(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Operator:
    token = credentials.credentials if credentials else request.cookies.get(COOKIE)
    return await authenticate(state, token)


CurrentUser = Annotated[Operator, Depends(current_user)]


async def acting_user(user: CurrentUser) -> Operator:
    require_actor_role(user)
    return user


ActingUser = Annotated[Operator, Depends(acting_user)]


def out_of_scope(user: Operator, code: str) -> Forbidden:
    return Forbidden(
        f"Đơn vị {code} nằm ngoài phạm vi của bạn ({user.scope})",
        f"Unit {code} is outside your scope ({user.scope})",
    )


def check_unit(user: Operator, code: str) -> str:
    """``code`` if the user may see it; 403 otherwise."""
    if not within(user.scope, code):
        raise out_of_scope(user, code)
    return code
