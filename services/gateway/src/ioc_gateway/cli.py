"""``ioc users create|list|disable|enable|password|access|logout`` — the operators who log in to
the gateway (admins can do the same from the API, ``/v1/users``; the CLI also works when no admin
can log in). Disabling, a new password, a new role or scope and ``logout`` end the user's
sessions (other gateway replicas notice within ``IOC_GATEWAY_USER_CACHE_TTL_S``).

ioc users create --username an.nv --role operator --scope 071 --password-stdin
ioc users list
ioc users disable an.nv
ioc users enable an.nv
ioc users password an.nv --password-stdin
ioc users access an.nv --role viewer --scope 072
ioc users logout an.nv
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ioc_common.cli_support import add_database_url_arg, cli_actor, run_with_database

if TYPE_CHECKING:
    from ioc_gateway.auth import UserStore


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="người dùng bảng điều khiển / dashboard users")
    users_sub = users.add_subparsers(dest="users_command", required=True)

    create = users_sub.add_parser("create", help="tạo người dùng / create a user")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    create.add_argument(
        "--scope", required=True, help="mã tỉnh hoặc huyện / province or district code, e.g. 071"
    )
    _password_args(create)
    add_database_url_arg(create)
    create.set_defaults(func=_cmd_create)

    lst = users_sub.add_parser("list", help="liệt kê / list users")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    add_database_url_arg(lst)
    lst.set_defaults(func=_cmd_list)

    disable = users_sub.add_parser("disable", help="khóa tài khoản / disable a user")
    disable.add_argument("username")
    add_database_url_arg(disable)
    disable.set_defaults(func=_cmd_disable)

    enable = users_sub.add_parser("enable", help="mở khóa / enable a user")
    enable.add_argument("username")
    add_database_url_arg(enable)
    enable.set_defaults(func=_cmd_enable)

    password = users_sub.add_parser("password", help="đặt mật khẩu / set a user's password")
    password.add_argument("username")
    _password_args(password)
    add_database_url_arg(password)
    password.set_defaults(func=_cmd_password)

    access = users_sub.add_parser(
        "access", help="đổi vai trò, phạm vi / change a user's role or scope"
    )
    access.add_argument("username")
    access.add_argument("--role", choices=["viewer", "operator", "admin"])
    access.add_argument("--scope", help="mã tỉnh hoặc huyện / province or district code")
    add_database_url_arg(access)
    access.set_defaults(func=_cmd_access)

    logout = users_sub.add_parser("logout", help="kết thúc mọi phiên / end every session of a user")
    logout.add_argument("username")
    add_database_url_arg(logout)
    logout.set_defaults(func=_cmd_logout)


def _password_args(parser: argparse.ArgumentParser) -> None:
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    secret.add_argument("--password", help="(visible in the process list; prefer stdin)")


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.password is not None:
        return str(args.password)
    return getpass.getpass("Mật khẩu / password: ")


def _run(url: str | None, action: Callable[[UserStore], Awaitable[int]]) -> int:
    from ioc_gateway.auth import UserStore
    from ioc_gateway.config import GatewaySettings

    return run_with_database(
        url or GatewaySettings().database_url,
        lambda sessions: UserStore(sessions, cache_ttl_s=0),
        action,
    )


def _cmd_create(args: argparse.Namespace) -> int:
    password = _read_password(args)

    async def action(store: UserStore) -> int:
        user = await store.create(
            username=args.username,
            role=args.role,
            scope=args.scope,
            password=password,
            actor=cli_actor(),
        )
        print(f"đã tạo / created {user.username} ({user.role.value}, {user.scope})")
        return 0

    return _run(args.database_url, action)


def _cmd_list(args: argparse.Namespace) -> int:
    async def action(store: UserStore) -> int:
        users = await store.list()
        rows = [
            {
                "username": u.username,
                "role": u.role.value,
                "scope": u.scope,
                "disabled": u.disabled,
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in users
        ]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
            return 0
        for r in rows:
            state = "disabled" if r["disabled"] else "active"
            print(
                f"{r['username']:<24} {r['role']:<9} {r['scope']:<6} {state:<9} "
                f"{r['last_login_at'] or '-'}"
            )
        return 0

    return _run(args.database_url, action)


def _cmd_disable(args: argparse.Namespace) -> int:
    async def action(store: UserStore) -> int:
        user = await store.disable(args.username, actor=cli_actor())
        print(f"đã khóa / disabled {user.username}")
        return 0

    return _run(args.database_url, action)


def _cmd_enable(args: argparse.Namespace) -> int:
    async def action(store: UserStore) -> int:
        user = await store.enable(args.username, actor=cli_actor())
        print(f"đã mở khóa / enabled {user.username}")
        return 0

    return _run(args.database_url, action)


def _cmd_password(args: argparse.Namespace) -> int:
    password = _read_password(args)

    async def action(store: UserStore) -> int:
        user = await store.set_password(args.username, password, actor=cli_actor())
        print(f"đã đặt mật khẩu / password set for {user.username}")
        return 0

    return _run(args.database_url, action)


def _cmd_access(args: argparse.Namespace) -> int:
    async def action(store: UserStore) -> int:
        user = await store.set_access(
            args.username, role=args.role, scope=args.scope, actor=cli_actor()
        )
        print(f"đã đổi / changed {user.username} ({user.role.value}, {user.scope})")
        return 0

    return _run(args.database_url, action)


def _cmd_logout(args: argparse.Namespace) -> int:
    async def action(store: UserStore) -> int:
        user = await store.revoke_sessions(
            args.username, actor=cli_actor(), action="user.sessions_revoked"
        )
        print(f"đã kết thúc mọi phiên / ended every session of {user.username}")
        return 0

    return _run(args.database_url, action)
