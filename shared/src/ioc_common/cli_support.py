"""What every service's ``ioc`` sub-commands share: the ``--database-url`` option, who acted
(for the audit log), and running one store action on a short-lived engine with errors printed
the way an operator can act on them, and listings as a table or JSON."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_common.errors import IocError

Store = TypeVar("Store")


if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def add_command_group(sub: Commands, name: str, help_text: str) -> Commands:
    """``ioc NAME …``: a command of sub-commands (one required), added to ``sub``; returns where
    its sub-commands go (their name lands in ``args.<NAME>_command``)."""
    group = sub.add_parser(name, help=help_text)
    return group.add_subparsers(dest=f"{name}_command", required=True)


def add_database_url_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="default: $DATABASE_URL")


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
    database_url: str,
    make_store: Callable[[async_sessionmaker[AsyncSession]], Store],
    action: Callable[[Store], Awaitable[int]],
) -> int:
    """Open an engine, run ``action`` on the store built over it, dispose of the engine.
    Returns the action's exit code, or 2 after printing a platform error."""
    from ioc_common.audit import acting_from, cli_origin
    from ioc_common.db import create_engine, session_factory

    async def main() -> int:
        engine = create_engine(database_url, pool_size=1)
        try:
            with acting_from(cli_origin("ioc-cli")):  # the audit rows' source: this machine
                return await action(make_store(session_factory(engine)))
        except IocError as exc:
            print_error(exc)
            return 2
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
