"""Operators managed from the API by admins (the same store as ``ioc users``): list, create,
disable, enable, set a password, change role or scope. An admin manages only users inside their
own unit scope and cannot disable themselves or change their own access. Disabling, a new
password and a new role or scope end the user's sessions. Every change is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from ioc_common.errors import Conflict, FieldError, InvalidInput, NotFound
from ioc_common.reference.units import unit_name, within
from ioc_common.web import error_responses
from ioc_gateway.api.deps import CurrentUser, State, out_of_scope
from ioc_gateway.api.schemas import (
    AccessIn,
    ManagedUserList,
    ManagedUserOut,
    PasswordIn,
    UserIn,
)
from ioc_gateway.auth import Operator, require_admin
from ioc_gateway.scope import scope_exists

router = APIRouter(prefix="/v1/users", tags=["users"])

_ERRORS = error_responses(401, 403, 404, 422)
Username = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]


async def admin_user(user: CurrentUser) -> Operator:
    require_admin(user)
    return user


Admin = Annotated[Operator, Depends(admin_user)]


def managed(user: Operator) -> ManagedUserOut:
    return ManagedUserOut(
        username=user.username,
        role=user.role.value,
        scope=user.scope,
        scope_name=unit_name(user.scope),
        disabled=user.disabled,
        last_login_at=user.last_login_at,
    )


async def _in_scope(state: State, admin: Operator, username: str) -> Operator:
    """The user, if it exists and lies inside the admin's scope (404/403 otherwise)."""
    target = await state.users.get(username)
    if target is None:
        raise NotFound("Không tìm thấy người dùng", f"No user {username!r}")
    if not within(admin.scope, target.scope):
        raise out_of_scope(admin, target.scope)
    return target


@router.get(
    "", summary="Người dùng / Users in my scope", responses=_ERRORS, response_model=ManagedUserList
)
async def list_users(state: State, admin: Admin) -> ManagedUserList:
    users = await state.users.list()
    return ManagedUserList(items=[managed(u) for u in users if within(admin.scope, u.scope)])


@router.post(
    "",
    summary="Tạo người dùng / Create a user",
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def create_user(body: UserIn, state: State, admin: Admin) -> ManagedUserOut:
    if not scope_exists(body.scope):  # an unknown code is bad input, not someone else's unit
        raise InvalidInput(
            "Phạm vi không hợp lệ",
            "Invalid scope",
            [FieldError("scope", f"{body.scope!r} is not a province or district code")],
        )
    if not within(admin.scope, body.scope):
        raise out_of_scope(admin, body.scope)
    user = await state.users.create(
        username=body.username,
        role=body.role,
        scope=body.scope,
        password=body.password,
        actor=admin.username,
    )
    return managed(user)


@router.post("/{username}/disable", summary="Khóa tài khoản / Disable a user", responses=_ERRORS)
async def disable_user(username: Username, state: State, admin: Admin) -> ManagedUserOut:
    await _in_scope(state, admin, username)
    if username == admin.username:
        raise Conflict(
            "Không thể tự khóa tài khoản của mình", "You cannot disable your own account"
        )
    return managed(await state.users.disable(username, actor=admin.username))


@router.post("/{username}/enable", summary="Mở khóa / Enable a user", responses=_ERRORS)
async def enable_user(username: Username, state: State, admin: Admin) -> ManagedUserOut:
    await _in_scope(state, admin, username)
    return managed(await state.users.enable(username, actor=admin.username))


@router.post(
    "/{username}/password", summary="Đặt mật khẩu / Set a user's password", responses=_ERRORS
)
async def set_password(
    username: Username, body: PasswordIn, state: State, admin: Admin
) -> ManagedUserOut:
    await _in_scope(state, admin, username)
    return managed(await state.users.set_password(username, body.password, actor=admin.username))


@router.patch(
    "/{username}",
    summary="Đổi vai trò, phạm vi / Change a user's role or scope",
    description="Các phiên của người dùng kết thúc. / The user's sessions end.",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def change_access(
    username: Username, body: AccessIn, state: State, admin: Admin
) -> ManagedUserOut:
    await _in_scope(state, admin, username)
    if username == admin.username:
        raise Conflict(
            "Không thể tự đổi vai trò hoặc phạm vi của mình",
            "You cannot change your own role or scope",
        )
    if body.scope is not None and scope_exists(body.scope) and not within(admin.scope, body.scope):
        raise out_of_scope(admin, body.scope)
    changed = await state.users.set_access(
        username, role=body.role, scope=body.scope, actor=admin.username
    )
    return managed(changed)
