"""What every service's ``ioc`` sub-commands share: the ``--database-url`` option, who acted
(for the audit log), and running one store action on a short-lived engine with errors printed
the way an operator can act on them."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_common.errors import IocError

Store = TypeVar("Store")


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
