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
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ioc_common.cli_support import (
    add_command_group,
    add_database_url_arg,
    cli_actor,
    database_address,
    print_listing,
    run_with_database,
    store_command,
)

if TYPE_CHECKING:
    from ioc_gateway.auth import UserStore


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users_sub = add_command_group(sub, "users", "người dùng bảng điều khiển / dashboard users")

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

    def user_command(
        name: str,
        help_text: str,
        func: Callable[[argparse.Namespace], int],
        options: Callable[[argparse.ArgumentParser], None] = lambda _: None,
    ) -> None:
        """``ioc users NAME USERNAME [options] [--database-url URL]``."""
        parser = users_sub.add_parser(name, help=help_text)
        parser.add_argument("username")
        options(parser)
        add_database_url_arg(parser)
        parser.set_defaults(func=func)

    user_command("disable", "khóa tài khoản / disable a user", _cmd_disable)
    user_command("enable", "mở khóa / enable a user", _cmd_enable)
    user_command("password", "đặt mật khẩu / set a user's password", _cmd_password, _password_args)
    user_command(
        "access", "đổi vai trò, phạm vi / change a user's role or scope", _cmd_access, _access_args
    )
    user_command("logout", "kết thúc mọi phiên / end every session of a user", _cmd_logout)

    from ioc_gateway import geo_cli  # ``ioc geo …``: the map's boundaries, also the gateway's

    geo_cli.register(sub)


def _access_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=["viewer", "operator", "admin"])
    parser.add_argument("--scope", help="mã tỉnh hoặc huyện / province or district code")


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
        database_address(url, lambda: GatewaySettings().database_url),
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


def _user_line(r: dict[str, Any]) -> str:
    state = "disabled" if r["disabled"] else "active"
    return (
        f"{r['username']:<24} {r['role']:<9} {r['scope']:<6} {state:<9} {r['last_login_at'] or '-'}"
    )


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
        return print_listing(rows, args.json, _user_line)

    return _run(args.database_url, action)


async def _disable(store: UserStore, args: argparse.Namespace) -> str:
    user = await store.disable(args.username, actor=cli_actor())
    return f"đã khóa / disabled {user.username}"


async def _enable(store: UserStore, args: argparse.Namespace) -> str:
    user = await store.enable(args.username, actor=cli_actor())
    return f"đã mở khóa / enabled {user.username}"


_cmd_disable = store_command(_run, _disable)
_cmd_enable = store_command(_run, _enable)


def _cmd_password(args: argparse.Namespace) -> int:
    password = _read_password(args)

    async def action(store: UserStore) -> int:
        user = await store.set_password(args.username, password, actor=cli_actor())
        print(f"đã đặt mật khẩu / password set for {user.username}")
        return 0

    return _run(args.database_url, action)


async def _access(store: UserStore, args: argparse.Namespace) -> str:
    user = await store.set_access(
        args.username, role=args.role, scope=args.scope, actor=cli_actor()
    )
    return f"đã đổi / changed {user.username} ({user.role.value}, {user.scope})"


async def _logout(store: UserStore, args: argparse.Namespace) -> str:
    user = await store.revoke_sessions(
        args.username, actor=cli_actor(), action="user.sessions_revoked"
    )
    return f"đã kết thúc mọi phiên / ended every session of {user.username}"


_cmd_access = store_command(_run, _access)
_cmd_logout = store_command(_run, _logout)
