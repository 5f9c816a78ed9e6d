"""Log in and out; who am I."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, State
from ioc_gateway.api.schemas import LoginIn, LoginOut, UserOut
from ioc_gateway.auth import COOKIE, Operator
from ioc_gateway.scope import province_of, unit_name

router = APIRouter(prefix="/v1/auth", tags=["auth"])


def user_out(user: Operator) -> UserOut:
    return UserOut(
        username=user.username,
        role=user.role.value,
        scope=user.scope,
        scope_name=unit_name(user.scope),
        province=province_of(user.scope),
        can_act=user.role.can_act,
    )


@router.post(
    "/login",
    summary="Đăng nhập / Log in",
    description="Trả token và đặt cookie HttpOnly cho bảng điều khiển. / Returns a token and "
    "sets an HttpOnly cookie for the dashboard.",
    responses={401: ERROR_RESPONSE_SCHEMA, 422: ERROR_RESPONSE_SCHEMA},
)
async def login(body: LoginIn, state: State, response: Response) -> LoginOut:
    user = await state.users.login(body.username, body.password)
    token, exp = state.signer.issue(user.username)
    response.set_cookie(
        COOKIE,
        token,
        max_age=state.signer.ttl_s,
        httponly=True,
        samesite="strict",
        secure=state.settings.cookie_secure,
        path="/",
    )
    return LoginOut(token=token, expires_at=datetime.fromtimestamp(exp, UTC), user=user_out(user))


@router.post("/logout", summary="Đăng xuất / Log out", status_code=204)
async def logout(response: Response) -> Response:
    response.delete_cookie(COOKIE, path="/")
    response.status_code = 204
    return response


@router.get(
    "/me",
    summary="Người dùng hiện tại / The logged-in operator",
    responses={401: ERROR_RESPONSE_SCHEMA},
)
async def me(user: CurrentUser) -> UserOut:
    return user_out(user)
