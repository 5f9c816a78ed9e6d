"""Consumer offsets kept in PostgreSQL, in the same transaction as the effects they account for.

A table ``(group_id, topic, partition) → next_offset`` per service (``metrics_offsets``,
``alerts_offsets``). The batch worker writes a batch's next offsets in the batch's own
transaction and, on partition assignment, seeks to what is stored: a crash at any point,
restart or rebalance resumes exactly after the last committed batch. An offset only moves
forward (``GREATEST``): a late writer of an older batch cannot move it back.

Two ways into the same transaction, the same rule: ``PgOffsets`` hands a raw asyncpg connection
(set-based statements on the hot path, the metrics service); ``SessionOffsets`` an SQLAlchemy
``AsyncSession`` (the alerts service's Core statements).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ioc_common.db import pg_transaction
from ioc_common.kafka.consumer import Partition

Tx = TypeVar("Tx")


class OffsetStore(Protocol[Tx]):
    """Opens the transaction a batch is handled in, and keeps the offsets inside it."""

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    async def load(self, partitions: set[Partition]) -> dict[Partition, int]:
        """The next offset to read of those partitions that have one stored."""
        ...

    async def save(self, tx: Tx, offsets: Mapping[Partition, int]) -> None: ...


def _select(table: str) -> str:
    return f"SELECT topic, partition, next_offset FROM {table} WHERE group_id = $1"


def _upsert(table: str) -> str:
    return (
        f"INSERT INTO {table} (group_id, topic, partition, next_offset)"
        " SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])"
        " ON CONFLICT (group_id, topic, partition) DO UPDATE SET"
        f" next_offset = GREATEST({table}.next_offset, EXCLUDED.next_offset),"
        " updated_at = now()"
    )


def _args(group_id: str, offsets: Mapping[Partition, int]) -> tuple[Any, ...]:
    return group_id, [p[0] for p in offsets], [p[1] for p in offsets], list(offsets.values())


class PgOffsets:
    """Offsets in ``table``; the batch's transaction is a raw asyncpg connection."""

    def __init__(self, engine: AsyncEngine, table: str, group_id: str) -> None:
        self.engine = engine
        self.group_id = group_id
        self._select = _select(table)
        self._upsert = _upsert(table)

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        return pg_transaction(self.engine)

    async def load(self, partitions: set[Partition]) -> dict[Partition, int]:
        async with pg_transaction(self.engine) as conn:
            rows = await conn.fetch(self._select, self.group_id)
        stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        return {p: o for p, o in stored.items() if p in partitions}

    async def save(self, tx: Any, offsets: Mapping[Partition, int]) -> None:
        if offsets:
            await tx.execute(self._upsert, *_args(self.group_id, offsets))


class SessionOffsets:
    """Offsets in ``table``; the batch's transaction is an SQLAlchemy session."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: str, group_id: str):
        self.sessions = sessions
        self.group_id = group_id
        # The same statements, through SQLAlchemy's driver-level execution ($n placeholders).
        self._select = _select(table)
        self._upsert = _upsert(table)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._transaction()

    async def load(self, partitions: set[Partition]) -> dict[Partition, int]:
        async with self._transaction() as session:
            conn = await session.connection()
            rows: list[Any] = list(await conn.exec_driver_sql(self._select, (self.group_id,)))
        stored = {(r[0], r[1]): r[2] for r in rows}
        return {p: o for p, o in stored.items() if p in partitions}

    async def save(self, tx: AsyncSession, offsets: Mapping[Partition, int]) -> None:
        if offsets:
            conn = await tx.connection()
            await conn.exec_driver_sql(self._upsert, _args(self.group_id, offsets))
