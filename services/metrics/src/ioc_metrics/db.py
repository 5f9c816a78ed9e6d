"""Raw asyncpg connections from the shared SQLAlchemy engine, for set-based statements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine


@asynccontextmanager
async def pg_transaction(engine: AsyncEngine) -> AsyncIterator[Any]:
    """An asyncpg connection inside one transaction: committed when the block ends."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        # SQLAlchemy never started a transaction on it, so its reset-on-return is a no-op.
        async with driver.transaction():
            yield driver
