"""Async SQLAlchemy on asyncpg: engine and session helpers, and the Alembic migrations.

All services share one PostgreSQL database and one linear migration history (``migrations/``);
each service owns its own tables, named with its prefix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_url(url: str) -> str:
    """Accept ``postgres://`` / ``postgresql://`` URLs and select the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]}")


async def numeric_as_text(conn: Any) -> None:
    """``numeric`` values travel as their text, read with ``Decimal`` and written with
    ``str``: exact both ways, like asyncpg's binary codec, at about half its cost (which
    rebuilds each value digit group by digit group; the metrics service reads and writes
    hundreds of thousands a minute)."""
    await conn.set_type_codec(
        "numeric", schema="pg_catalog", encoder=str, decoder=Decimal, format="text"
    )


def create_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        echo=echo,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(numeric_as_text)

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block ends, rolls back if it raises."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def pg_transaction(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A raw asyncpg connection inside one transaction (committed when the block ends, rolled
    back if it raises or is cancelled), for set-based statements on the hot path."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        # SQLAlchemy never started a transaction on it, so its reset-on-return is a no-op.
        async with driver.transaction():
            yield driver


async def database_ready(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ready"; the reason is in the driver's log
        return False
    return True
