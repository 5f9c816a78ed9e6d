"""Log in and out; who am I."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from ioc_common.errors import InvalidInput, RateLimited, Unauthenticated
from ioc_common.logs import get_logger
from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, State, authenticate, session_token
from ioc_gateway.api.schemas import LoginIn, LoginOut, OwnPasswordIn, UserOut
from ioc_gateway.auth import COOKIE, Operator
from ioc_gateway.scope import province_of, unit_name
from ioc_gateway.state import GatewayState

router = APIRouter(prefix="/v1/auth", tags=["auth"])
log = get_logger("ioc.gateway")


def _refuse_if_locked(state: GatewayState, username: str) -> None:
    """429 before any password is checked while ``username`` is locked."""
    wait = state.login_throttle.retry_after(username)
    if wait is not None:
        state.metrics.login_throttled.inc()
        raise RateLimited(
            "Đăng nhập sai quá nhiều lần; tài khoản tạm khóa, vui lòng thử lại sau",
            "Too many failed logins for this user; try again after the given delay",
            retry_after=wait,
        )


def _count_wrong_password(state: GatewayState, username: str) -> None:
    throttle = state.login_throttle
    if throttle.failed(username):
        state.metrics.login_lockouts.inc()
        log.warning(
            "gateway.login_locked",
            username=username[:128],
            lockout_s=throttle.lockout_s,
            hint="repeated wrong passwords; if it is not the user, look for password guessing",
        )


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
    responses={401: ERROR_RESPONSE_SCHEMA, 422: ERROR_RESPONSE_SCHEMA, 429: ERROR_RESPONSE_SCHEMA},
)
async def login(body: LoginIn, state: State, response: Response) -> LoginOut:
    _refuse_if_locked(state, body.username)
    try:
        user = await state.users.login(body.username, body.password)
    except Unauthenticated:
        _count_wrong_password(state, body.username)
        raise
    state.login_throttle.succeeded(body.username)
    token, exp = _start_session(state, user, response)
    return LoginOut(token=token, expires_at=datetime.fromtimestamp(exp, UTC), user=user_out(user))


def _start_session(state: GatewayState, user: Operator, response: Response) -> tuple[str, int]:
    """A token at the user's current version, also set as the HttpOnly, SameSite=Strict
    cookie the dashboard (and its live feed) uses."""
    token, exp = state.signer.issue(user.username, user.token_version)
    response.set_cookie(
        COOKIE,
        token,
        max_age=state.signer.ttl_s,
        httponly=True,
        samesite="strict",
        secure=state.settings.cookie_secure,
        path="/",
    )
    return token, exp


@router.post(
    "/logout",
    summary="Đăng xuất / Log out",
    description="Kết thúc mọi phiên của người dùng trên mọi thiết bị (token cũ bị từ chối). / "
    "Ends every session of the user on every device (earlier tokens are refused).",
    status_code=204,
)
async def logout(request: Request, state: State, response: Response) -> Response:
    try:
        user = await authenticate(state, session_token(request))
    except Unauthenticated:
        user = None  # nothing to end; the cookie goes anyway
    if user is not None:
        await state.users.revoke_sessions(user.username, actor=user.username, action="logout")
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


@router.post(
    "/password",
    summary="Đổi mật khẩu của tôi / Change my password",
    description="Cần mật khẩu hiện tại. Mọi phiên cũ kết thúc; cookie của bảng điều khiển được cấp "
    "lại, ứng dụng dùng Bearer token phải đăng nhập lại. / Needs the current password. Every "
    "earlier session ends; the dashboard's cookie is renewed, Bearer clients log in again.",
    responses={401: ERROR_RESPONSE_SCHEMA, 422: ERROR_RESPONSE_SCHEMA, 429: ERROR_RESPONSE_SCHEMA},
)
async def change_password(
    body: OwnPasswordIn, user: CurrentUser, state: State, response: Response
) -> UserOut:
    _refuse_if_locked(state, user.username)
    try:
        changed = await state.users.change_own_password(
            user.username, body.current_password, body.new_password
        )
    except InvalidInput as exc:
        if any(d.field == "current_password" for d in exc.details):
            _count_wrong_password(state, user.username)  # a guess like a wrong login
        raise
    _start_session(state, changed, response)
    return user_out(changed)
