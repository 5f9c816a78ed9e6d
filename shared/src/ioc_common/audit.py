"""Append one row to the platform audit log, inside the caller's transaction.

Each row says who did what to which target and where it came from (``source_address``,
``user_agent``). The origin is given to :func:`record` explicitly, or comes from the entry
point that runs the action: :class:`AuditOriginMiddleware` sets it for each HTTP request or
WebSocket (:func:`origin_of`), a command-line tool sets :func:`cli_origin` with
:func:`acting_from`; an action with neither (a background loop) has none.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

SOURCE_ADDRESS_CHARS = 64
USER_AGENT_CHARS = 256

audit_log = sa.Table(
    "audit_log",
    sa.MetaData(),
    # As migrations 0001 and 0006 made it (``tests/test_tables_match_migrations.py``).
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("service", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=True),
    sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
    sa.Column("source_address", sa.String(SOURCE_ADDRESS_CHARS), nullable=True),
    sa.Column("user_agent", sa.String(USER_AGENT_CHARS), nullable=True),
    sa.Index("ix_audit_log_actor_at", "actor", "at"),
    sa.Index("ix_audit_log_at", "at"),
)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an action came from: a client address (or ``cli``) and its user agent."""

    source_address: str | None = None
    user_agent: str | None = None


_current: ContextVar[Origin | None] = ContextVar("ioc_audit_origin", default=None)


def origin_of(connection: HTTPConnection) -> Origin:
    """The client's address and ``User-Agent`` of a request or WebSocket. The address is the
    peer's (behind a reverse proxy, run uvicorn with ``--forwarded-allow-ips`` naming that
    proxy so the peer is the proxy's client; a client's own ``X-Forwarded-For`` is not
    believed)."""
    client = connection.client
    return Origin(client.host if client else None, connection.headers.get("user-agent"))


def cli_origin(program: str) -> Origin:
    """A command-line tool run on this machine: ``cli`` and ``<program> on <hostname>``."""
    return Origin("cli", f"{program} on {socket.gethostname()}")


@contextlib.contextmanager
def acting_from(origin: Origin) -> Iterator[None]:
    """Audit rows written inside the block carry ``origin`` unless given one explicitly."""
    token = _current.set(origin)
    try:
        yield
    finally:
        _current.reset(token)


class AuditOriginMiddleware:
    """Sets each HTTP request's and WebSocket's :func:`origin_of` for the audit rows it writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        with acting_from(origin_of(HTTPConnection(scope))):
            await self.app(scope, receive, send)


def _fit(text: str | None, size: int) -> str | None:
    """Printable characters only, cut to the column's size."""
    if text is None:
        return None
    return "".join(c if c.isprintable() else "?" for c in text[:size])


async def record(
    session: AsyncSession,
    *,
    service: str,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    source_address: str | None = None,
    user_agent: str | None = None,
) -> None:
    """``source_address``/``user_agent`` default to the current origin (see the module)."""
    origin = _current.get() or Origin()
    await session.execute(
        audit_log.insert().values(
            service=service,
            actor=actor,
            action=action,
            target=target,
            detail=detail or {},
            source_address=_fit(source_address or origin.source_address, SOURCE_ADDRESS_CHARS),
            user_agent=_fit(user_agent or origin.user_agent, USER_AGENT_CHARS),
        )
    )
