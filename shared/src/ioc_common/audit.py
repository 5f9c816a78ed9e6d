"""Append one row to the platform audit log, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

audit_log = sa.Table(
    "audit_log",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("service", sa.String(32)),
    sa.Column("actor", sa.String(128)),
    sa.Column("action", sa.String(64)),
    sa.Column("target", sa.String(256)),
    sa.Column("detail", postgresql.JSONB),
)


async def record(
    session: AsyncSession,
    *,
    service: str,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        audit_log.insert().values(
            service=service, actor=actor, action=action, target=target, detail=detail or {}
        )
    )
