"""What every service's ``ioc`` sub-commands share: the ``--database-url`` option and where
the address comes from when it is not given (``DATABASE_URL``, else the running ``ioc dev``'s
state file), who acted (for the audit log), running one store action on a short-lived engine
with errors printed the way an operator can act on them, listings as a table or JSON, and the
one line a command prints when the database, the broker or a service cannot be reached
(``failure_line``, used by ``ioc_common.cli.main`` for every command)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_common.dev_state import dev_address, state_path
from ioc_common.errors import DatabaseUnavailable, IocError

Store = TypeVar("Store")


if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def add_command_group(sub: Commands, name: str, help_text: str) -> Commands:
    """``ioc NAME …``: a command of sub-commands (one required), added to ``sub``; returns where
    its sub-commands go (their name lands in ``args.<NAME>_command``)."""
    group = sub.add_parser(name, help=help_text)
    return group.add_subparsers(dest=f"{name}_command", required=True)


def add_database_url_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", help="default: $DATABASE_URL, else the running `ioc dev`'s database"
    )


@dataclass(frozen=True)
class Address:
    """Where a command connects, and what told it so (for the fix when it cannot)."""

    url: str
    source: str  # "option", "env", "ioc dev", "default"


def resolve_address(
    explicit: str | None, env_name: str, dev_name: str, default: Callable[[], str]
) -> Address:
    """An option wins, then the environment variable, then the running ``ioc dev`` (its state
    file), then the settings' default."""
    if explicit:
        return Address(explicit, "option")
    if value := os.environ.get(env_name):
        return Address(value, "env")
    if value := dev_address(dev_name):
        return Address(value, "ioc dev")
    return Address(default(), "default")


def database_address(explicit: str | None, default: Callable[[], str]) -> Address:
    return resolve_address(explicit, "DATABASE_URL", "database", default)


class Unreachable(Exception):
    """Something a command needs did not answer; ``line`` says what, where and the fix."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def _host_port(url: str) -> str:
    """``host:port/db`` of a URL, never its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:
        return url.rsplit("@", 1)[-1]
    return f"{u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"


def _fix_vi_en(address: Address, option: str, env_name: str) -> tuple[str, str]:
    if address.source == "ioc dev":
        where = state_path()
        return (
            f"ioc dev ghi trong {where} có lẽ đã dừng: chạy lại `ioc dev`, hoặc dùng {option}",
            f"the ioc dev recorded in {where} seems stopped: start `ioc dev` again, or give "
            f"{option}",
        )
    if address.source == "default":
        return (
            f"chạy `ioc dev`, hoặc đặt {env_name} / {option}",
            f"start `ioc dev`, or set {env_name} or {option}",
        )
    named = option if address.source == "option" else env_name
    return (f"kiểm tra {named} và máy chủ", f"check {named} and that the server is up")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy keeps the driver's error here
        if isinstance(orig, BaseException) and id(orig) not in seen:
            yield orig
            seen.add(id(orig))
        current = current.__cause__ or current.__context__


def _network_error(exc: BaseException) -> bool:
    """Refused, timed out, unknown host — not a missing file (also an ``OSError``). asyncpg
    raises a plain ``OSError`` when every address of a host failed."""
    return isinstance(exc, ConnectionError | TimeoutError | socket.gaierror) or type(exc) is OSError


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:160] if text else type(exc).__name__


def database_failure(exc: BaseException, address: Address) -> Unreachable | None:
    """The one line for a database that could not be used, or None for other errors."""
    import asyncpg.exceptions as pg

    where = _host_port(address.url)
    fix_vi, fix_en = _fix_vi_en(address, "--database-url", "DATABASE_URL")
    for e in _chain(exc):
        if isinstance(e, pg.InvalidCatalogNameError):
            what = ("cơ sở dữ liệu không tồn tại", "the database does not exist")
        elif isinstance(e, pg.InvalidPasswordError | pg.InvalidAuthorizationSpecificationError):
            what = ("cơ sở dữ liệu từ chối đăng nhập", "the database refused the login")
        elif isinstance(e, pg.UndefinedTableError):
            fix_vi, fix_en = ("chạy `ioc migrate`", "run `ioc migrate`")
            what = ("cơ sở dữ liệu chưa có bảng", "the database has no schema yet")
        elif isinstance(e, pg.CannotConnectNowError | pg.TooManyConnectionsError):
            what = ("cơ sở dữ liệu chưa nhận kết nối", "the database accepts no connection now")
        elif _network_error(e) or isinstance(e, DatabaseUnavailable):
            what = ("không kết nối được cơ sở dữ liệu", "cannot reach the database")
        else:
            continue
        return Unreachable(
            f"lỗi / error: {what[0]} {where} — {fix_vi} / {what[1]} at {where} — {fix_en} "
            f"({_cause(e)})"
        )
    return None


def http_failure(exc: BaseException, address: Address, option: str, env_name: str) -> str:
    """The one line for a service (ingest…) that did not answer."""
    fix_vi, fix_en = _fix_vi_en(address, option, env_name)
    return (
        f"lỗi / error: không kết nối được {address.url} — {fix_vi} / cannot reach "
        f"{address.url} — {fix_en} ({_cause(exc)})"
    )


def failure_line(exc: BaseException) -> str | None:
    """The one line any ``ioc`` command prints instead of a traceback when something it
    connects to is not there; None for every other error (a bug keeps its traceback)."""
    import httpx
    from aiokafka.errors import KafkaConnectionError
    from sqlalchemy.exc import DBAPIError

    for e in _chain(exc):
        if isinstance(e, Unreachable):
            return e.line
    for e in _chain(exc):
        if isinstance(e, httpx.TransportError):
            try:
                url = str(e.request.url.copy_with(query=None))
            except RuntimeError:  # no request attached
                url = "?"
            return http_failure(e, Address(url, "option"), "--url", "IOC_*_URL")
        if isinstance(e, KafkaConnectionError):
            return (
                "lỗi / error: không kết nối được Kafka — chạy `ioc dev` hoặc đặt "
                "KAFKA_BOOTSTRAP_SERVERS / cannot reach Kafka — start `ioc dev` or set "
                f"KAFKA_BOOTSTRAP_SERVERS ({_cause(e)})"
            )
        if isinstance(e, DBAPIError | DatabaseUnavailable) or _network_error(e):
            found = database_failure(e, Address(os.environ.get("DATABASE_URL", "?"), "env"))
            if found is not None:
                return found.line
    return None


def cli_actor() -> str:
    """The audit log's actor for a command typed at a terminal."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def print_error(exc: IocError) -> None:
    print(f"lỗi / error: {exc.message} / {exc.message_en}", file=sys.stderr)
    for d in exc.details:
        print(f"  {d.field}: {d.reason}", file=sys.stderr)


def print_listing(
    rows: Sequence[dict[str, Any]],
    as_json: bool,
    line: Callable[[dict[str, Any]], str],
    *,
    header: str | None = None,
    indent: int | None = None,
) -> int:
    """A ``list`` sub-command's output: the rows as JSON (``--json``), else a ``header`` and
    one ``line`` a row. Exit code 0."""
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=indent))
        return 0
    if header is not None:
        print(header)
    for r in rows:
        print(line(r))
    return 0


def run_with_database(
    database: Address | str,
    make_store: Callable[[async_sessionmaker[AsyncSession]], Store],
    action: Callable[[Store], Awaitable[int]],
) -> int:
    """Open an engine, run ``action`` on the store built over it, dispose of the engine.
    Returns the action's exit code, or 2 after printing a platform error; raises
    ``Unreachable`` when the database cannot be used."""
    from ioc_common.audit import acting_from, cli_origin
    from ioc_common.db import create_engine, session_factory

    address = database if isinstance(database, Address) else Address(database, "option")

    async def main() -> int:
        engine = create_engine(address.url, pool_size=1)
        try:
            with acting_from(cli_origin("ioc-cli")):  # the audit rows' source: this machine
                return await action(make_store(session_factory(engine)))
        except Exception as exc:
            if (unreachable := database_failure(exc, address)) is not None:
                raise unreachable from None
            if isinstance(exc, IocError):
                print_error(exc)
                return 2
            raise
        finally:
            await engine.dispose()

    return asyncio.run(main())


def store_command(
    run: Callable[[str | None, Callable[[Store], Awaitable[int]]], int],
    act: Callable[[Store, argparse.Namespace], Awaitable[str]],
) -> Callable[[argparse.Namespace], int]:
    """A sub-command that runs one store action on ``--database-url`` (through ``run``) and
    prints the line ``act`` returns; exit code 0 (or ``run``'s 2 after a platform error)."""

    def command(args: argparse.Namespace) -> int:
        async def action(store: Store) -> int:
            print(await act(store, args))
            return 0

        return run(args.database_url, action)

    return command
